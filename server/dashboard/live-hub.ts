import type postgres from 'postgres';
import { log } from '../log';

/**
 * The live dashboard's feed: ONE `LISTEN warden_live` connection per server process (the shared
 * pool's listener), fanned out to every browser on GET /api/ui/events as Server-Sent Events.
 *
 * What is announced comes from triggers (drizzle/0011_dashboard_live_notify.sql), so every code
 * path is covered: `job:<id>:<status>` per job transition, `jobs` per insert statement, `node` per
 * heartbeat write, `sweeper` per sweeper-run write. Browsers only invalidate their queries on an
 * event and re-read through the ordinary read endpoints: an event carries no data a viewer could
 * not read anyway.
 *
 * Bounded: at most `maxClients` streams (the caller answers 429 beyond, and the browser polls);
 * events are batched every BATCH_MS into one message per client, at most BATCH_MAX distinct topics
 * (beyond that one `*`: "refresh everything"); a client whose socket does not drain is dropped once
 * QUEUE_LIMIT bytes are waiting.
 */
export const LIVE_CHANNEL = 'warden_live';
const BATCH_MS = 100;
const BATCH_MAX = 200;
const QUEUE_LIMIT = 256 * 1024;
const PING_MS = 20_000;

export interface LiveClient {
  /** Enqueue one SSE frame; false when the client should be dropped. */
  send(frame: string): boolean;
  close(): void;
}

const enc = new TextEncoder();

export class LiveHub {
  private readonly clients = new Set<LiveClient>();
  private listening: Promise<unknown> | null = null;
  private listens = 0;
  private pending = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;

  get size(): number {
    return this.clients.size;
  }

  /** Starts the LISTEN once (again after a failed attempt). */
  ensureListening(sql: postgres.Sql): Promise<unknown> {
    if (!this.listening) {
      this.listening = sql
        .listen(
          LIVE_CHANNEL,
          (payload) => this.publish(payload),
          () => this.onListen(),
        )
        .catch((e: unknown) => {
          this.listening = null;
          log.warn({ err: String(e) }, `LISTEN ${LIVE_CHANNEL} failed: dashboards fall back to polling`);
          throw e;
        });
    }
    return this.listening;
  }

  /**
   * postgres.js calls this on the first LISTEN and again after each reconnect. After a reconnect
   * the events of the gap are unknown, so every stream is ended: browsers reconnect, and each
   * refetches everything on its `hello`.
   */
  private onListen(): void {
    this.listens += 1;
    if (this.listens > 1) {
      log.info({ clients: this.clients.size }, `LISTEN ${LIVE_CHANNEL} reconnected: live streams restarted`);
      for (const c of [...this.clients]) this.drop(c);
    }
  }

  /** Adds a stream; false when the hub is full. */
  add(c: LiveClient, maxClients: number): boolean {
    if (this.clients.size >= maxClients) return false;
    this.clients.add(c);
    this.pingTimer ??= setInterval(() => this.broadcast(': ping\n\n'), PING_MS).unref();
    return true;
  }

  remove(c: LiveClient): void {
    this.clients.delete(c);
    if (this.clients.size === 0 && this.pingTimer) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
  }

  publish(topic: string): void {
    if (this.clients.size === 0) return;
    if (this.pending.size < BATCH_MAX) this.pending.add(topic);
    else this.pending = new Set(['*']);
    this.flushTimer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  private flush(): void {
    this.flushTimer = null;
    const topics = [...this.pending];
    this.pending = new Set();
    if (topics.length) this.broadcast(`data: ${JSON.stringify(topics.includes('*') ? ['*'] : topics)}\n\n`);
  }

  private broadcast(frame: string): void {
    for (const c of [...this.clients]) if (!c.send(frame)) this.drop(c);
  }

  private drop(c: LiveClient): void {
    this.remove(c);
    c.close();
  }

  /**
   * One browser's stream: `retry`, a `hello` event (the browser refetches on it: anything changed
   * while it connected), then batches of topics. Ends on `signal` (the browser left).
   */
  stream(signal: AbortSignal, maxClients: number): ReadableStream<Uint8Array> | null {
    let client: LiveClient | null = null;
    const remove = (c: LiveClient) => this.remove(c);
    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          let closed = false;
          client = {
            send(frame) {
              if (closed) return false;
              if ((controller.desiredSize ?? 0) <= 0) return false;
              controller.enqueue(enc.encode(frame));
              return true;
            },
            close() {
              if (closed) return;
              closed = true;
              try {
                controller.close();
              } catch {
                /* already closed */
              }
            },
          };
          controller.enqueue(enc.encode(`retry: 3000\nevent: hello\ndata: {}\n\n`));
        },
        cancel() {
          if (client) remove(client);
        },
      },
      { highWaterMark: QUEUE_LIMIT, size: (chunk) => chunk.byteLength },
    );
    if (!client || !this.add(client, maxClients)) {
      void body.cancel().catch(() => {});
      return null;
    }
    const c = client as LiveClient;
    signal.addEventListener('abort', () => this.drop(c), { once: true });
    return body;
  }
}

const g = globalThis as unknown as { __wardenLiveHub?: LiveHub };
/** This process's hub (on globalThis: Next bundles route handlers apart from each other). */
export const liveHub: LiveHub = (g.__wardenLiveHub ??= new LiveHub());
