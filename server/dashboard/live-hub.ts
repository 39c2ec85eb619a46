import type postgres from 'postgres';
import { log } from '../log';

/**
 * The live dashboard's feed: ONE `LISTEN warden_live` connection per server process (the shared
 * pool's listener), fanned out to every browser on GET /api/ui/events as Server-Sent Events.
 *
 * What is announced comes from triggers (drizzle/0011_dashboard_live_notify.sql, owners added by
 * drizzle/0012_cli_live_owner.sql), so every code path is covered: `job:<id>:<status>:<owner>` per
 * job transition, `jobs:<owner>` per owner of an insert statement, `node` per heartbeat write,
 * `sweeper` per sweeper-run write. Streams see the topics without the owner (`job:<id>:<status>`,
 * `jobs`): a stream for everyone (the dashboard, operator keys) all of them; a stream for one user
 * (a user key on GET /api/v1/events) only those of its own jobs — never `node` or `sweeper`.
 * Readers only re-read through the ordinary read endpoints on an event (which scope by user): an
 * event carries no data its reader could not read anyway.
 *
 * Bounded: at most `maxClients` streams (the caller answers 429 beyond, and the browser polls),
 * of them at most `perUser` for one user; events are batched every BATCH_MS into one message per
 * client, at most BATCH_MAX distinct topics per audience (beyond that one `*`: "refresh
 * everything"); a client whose socket does not drain is dropped once QUEUE_LIMIT bytes are waiting.
 */
export const LIVE_CHANNEL = 'warden_live';
const BATCH_MS = 100;
const BATCH_MAX = 200;
const QUEUE_LIMIT = 256 * 1024;
const PING_MS = 20_000;
/** Streams one user key may hold at once (as log follows: FOLLOWS_PER_ACTOR). */
export const LIVE_STREAMS_PER_USER = 4;

/** A topic as announced, split into what streams see and whose job it is about (if a job's). */
export function parseTopic(payload: string): { topic: string; owner: string | null } {
  const job = /^(job:[^:]+:[^:]+):([^:]+)$/.exec(payload);
  if (job) return { topic: job[1]!, owner: job[2]! };
  const ins = /^jobs:([^:]+)$/.exec(payload);
  if (ins) return { topic: 'jobs', owner: ins[1]! };
  return { topic: payload, owner: null };
}

/** Topics waiting for the next flush, at most BATCH_MAX (then just `*`). */
function addTopic(set: Set<string>, topic: string): Set<string> {
  if (set.has('*')) return set;
  if (set.size < BATCH_MAX) {
    set.add(topic);
    return set;
  }
  return new Set(['*']);
}

export interface LiveClient {
  /** Enqueue one SSE frame; false when the client should be dropped. */
  send(frame: string): boolean;
  close(): void;
}

const enc = new TextEncoder();

export class LiveHub {
  /** Each stream and its audience: null = everyone's topics, else one user's id. */
  private readonly clients = new Map<LiveClient, string | null>();
  /** Open streams per user (for the per-user cap and to batch only for users who listen). */
  private readonly users = new Map<string, number>();
  private listening: Promise<unknown> | null = null;
  private listens = 0;
  private pending = new Set<string>();
  private pendingByUser = new Map<string, Set<string>>();
  private flushTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;

  get size(): number {
    return this.clients.size;
  }

  /** Open streams of one user. */
  countFor(userId: string): number {
    return this.users.get(userId) ?? 0;
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
      for (const c of [...this.clients.keys()]) this.drop(c);
    }
  }

  /** Adds a stream (for everyone's topics, or one user's); false when the hub is full. */
  add(c: LiveClient, maxClients: number, userId: string | null = null, perUser = LIVE_STREAMS_PER_USER): boolean {
    if (this.clients.size >= maxClients) return false;
    if (userId !== null && this.countFor(userId) >= perUser) return false;
    this.clients.set(c, userId);
    if (userId !== null) this.users.set(userId, this.countFor(userId) + 1);
    this.pingTimer ??= setInterval(() => this.broadcast(': ping\n\n'), PING_MS).unref();
    return true;
  }

  remove(c: LiveClient): void {
    if (!this.clients.has(c)) return;
    const userId = this.clients.get(c);
    this.clients.delete(c);
    if (userId != null) {
      const n = this.countFor(userId) - 1;
      if (n > 0) this.users.set(userId, n);
      else {
        this.users.delete(userId);
        this.pendingByUser.delete(userId);
      }
    }
    if (this.clients.size === 0 && this.pingTimer) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
  }

  /** One announcement (a NOTIFY payload): queued for everyone's streams and its owner's. */
  publish(payload: string): void {
    if (this.clients.size === 0) return;
    const { topic, owner } = parseTopic(payload);
    this.pending = addTopic(this.pending, topic);
    if (topic === '*') for (const u of this.users.keys()) this.pendingByUser.set(u, new Set(['*']));
    else if (owner !== null && this.users.has(owner)) this.pendingByUser.set(owner, addTopic(this.pendingByUser.get(owner) ?? new Set(), topic));
    this.flushTimer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  private flush(): void {
    this.flushTimer = null;
    const frame = (set: Set<string> | undefined) => (set?.size ? `data: ${JSON.stringify([...set])}\n\n` : null);
    const all = frame(this.pending);
    const byUser = new Map([...this.pendingByUser].map(([u, set]) => [u, frame(set)]));
    this.pending = new Set();
    this.pendingByUser = new Map();
    for (const [c, userId] of [...this.clients]) {
      const f = userId === null ? all : byUser.get(userId);
      if (f && !c.send(f)) this.drop(c);
    }
  }

  private broadcast(frame: string): void {
    for (const c of [...this.clients.keys()]) if (!c.send(frame)) this.drop(c);
  }

  private drop(c: LiveClient): void {
    this.remove(c);
    c.close();
  }

  /**
   * One reader's stream: `retry`, a `hello` event (the reader refetches on it: anything changed
   * while it connected), then batches of topics. Ends on `signal` (the reader left). `userId`:
   * only that user's jobs' topics; null: everyone's. Null when the hub (or the user's share) is full.
   */
  stream(signal: AbortSignal, maxClients: number, userId: string | null = null): ReadableStream<Uint8Array> | null {
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
    if (!client || !this.add(client, maxClients, userId)) {
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
