import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import { log } from '../log';
import { splitJsonLines } from './frames';
import type { ContainerEvent, EventSubscription } from './types';

/**
 * Docker's events stream for Warden's containers: newline-delimited JSON split across chunks
 * (buffered into lines), reconnected with backoff after an engine restart, replayed from the last
 * delivered event, de-duplicated by exact key, and never able to crash the process.
 */

/** The raw shape of one line of GET /events (only the fields Warden reads). */
export interface RawDockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

/** Maps one engine event to Warden's ContainerEvent; null for non-container or malformed ones. */
export function mapDockerEvent(raw: RawDockerEvent): ContainerEvent | null {
  if (raw.Type !== undefined && raw.Type !== 'container') return null;
  // Actions like "exec_start: sh -c …" or "health_status: healthy" carry detail after ':'.
  const action = (raw.Action ?? raw.status ?? '').split(':')[0]!.trim();
  const id = raw.Actor?.ID ?? raw.id;
  if (!action || !id) return null;
  const attrs = raw.Actor?.Attributes ?? {};
  const exitCode = action === 'die' && attrs.exitCode !== undefined ? Number(attrs.exitCode) : null;
  const ms =
    raw.timeNano !== undefined
      ? Math.floor(raw.timeNano / 1e6)
      : raw.time !== undefined
        ? raw.time * 1000
        : Date.now();
  return {
    action,
    id,
    // Attributes mix labels with a few engine keys (image, name, exitCode…); callers only look
    // up warden.* keys, so passing them through is harmless and keeps labels complete.
    labels: { ...attrs },
    exitCode: exitCode !== null && Number.isFinite(exitCode) ? exitCode : null,
    signal: action === 'kill' ? (attrs.signal ?? null) : null,
    at: new Date(ms),
  };
}

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5_000;

function messageOf(err: unknown): string {
  return err && typeof err === 'object' && 'message' in err ? String((err as Error).message) : String(err);
}

/** How the subscription reports on the engine to its runtime (for lastError()). */
export interface EngineHooks {
  /** The engine answered. */
  answered(): void;
  /** A connection failed; the runtime classifies and records it. */
  failed(err: unknown): void;
}

/**
 * Container events for containers labelled warden.managed=true. onReconnect runs after a
 * connection was lost (or never made) and is back: callers reconcile what they may have missed.
 */
export function subscribeEvents(
  docker: Docker,
  hooks: EngineHooks,
  onEvent: (e: ContainerEvent) => void,
  onReconnect?: () => void,
): EventSubscription {
  let closed = false;
  let stream: Readable | null = null;
  let request: AbortController | null = null;
  let timer: NodeJS.Timeout | null = null;
  let backoff = RECONNECT_MIN_MS;
  let everConnected = false;
  let missedEvents = false; // a connection was lost or never made: the caller must reconcile
  let firstConnectedSec = 0;
  // Resume point: the newest delivered event's engine time (ns). The replay after a reconnect
  // starts there, so events already delivered are skipped by their exact key (id, action,
  // time). Keys, not a time cut-off: concurrent events can arrive slightly out of order, and a
  // "drop anything older than the newest" rule loses real events (seen with 20 parallel kills).
  let lastNano: bigint | null = null;
  const recent = new Set<string>();
  const RECENT_MAX = 4096;

  const scheduleReconnect = () => {
    if (closed || timer) return;
    missedEvents = true;
    const delay = backoff;
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delay);
  };

  const deliver = (raw: RawDockerEvent) => {
    const ev = mapDockerEvent(raw);
    if (!ev) return;
    if (typeof raw.timeNano === 'number') {
      const nano = BigInt(raw.timeNano);
      const key = `${ev.id}:${raw.Action ?? ''}:${nano}`;
      if (recent.has(key)) return;
      recent.add(key);
      if (recent.size > RECENT_MAX) recent.delete(recent.values().next().value as string);
      if (lastNano === null || nano > lastNano) lastNano = nano;
    }
    try {
      onEvent(ev);
    } catch (err) {
      // A throwing handler must not take down the stream (or the process).
      log.error({ err: messageOf(err), action: ev.action, id: ev.id }, 'docker: event handler threw');
    }
  };

  const connect = async () => {
    if (closed) return;
    const ac = new AbortController();
    request = ac;
    const opts: Docker.GetEventsOptions & { abortSignal: AbortSignal } = {
      filters: { type: ['container'], label: ['warden.managed=true'] },
      abortSignal: ac.signal,
    };
    if (everConnected) {
      // Replay what happened while we were away (the engine keeps a short in-memory history;
      // after an engine restart it is empty, which is what onReconnect is for).
      // Docker accepts "seconds.nanoseconds"; the typings only know numbers.
      const since =
        lastNano !== null
          ? `${lastNano / 1_000_000_000n}.${String(lastNano % 1_000_000_000n).padStart(9, '0')}`
          : String(firstConnectedSec);
      (opts as { since?: unknown }).since = since;
    }
    let s: Readable;
    try {
      s = (await docker.getEvents(opts)) as Readable;
      hooks.answered();
    } catch (err) {
      // Aborted by close(): not an engine problem, so not recorded.
      if (closed) return;
      hooks.failed(err);
      log.warn({ err: messageOf(err), retryInMs: backoff }, 'docker: events stream connect failed');
      scheduleReconnect();
      return;
    } finally {
      if (request === ac) request = null;
    }
    if (closed) {
      s.on('error', () => {});
      s.destroy();
      return;
    }
    stream = s;
    backoff = RECONNECT_MIN_MS;
    if (!everConnected) firstConnectedSec = Math.floor(Date.now() / 1000);
    everConnected = true;

    const decoder = new StringDecoder('utf8'); // chunks may split a multi-byte character
    let pending = '';
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      if (stream === s) stream = null;
      if (closed) return;
      if (err) hooks.failed(err);
      log.warn({ err: err?.message }, 'docker: events stream ended; reconnecting');
      scheduleReconnect();
    };
    s.on('data', (chunk: Buffer) => {
      const { lines, rest } = splitJsonLines(pending, decoder.write(chunk));
      pending = rest;
      for (const line of lines) {
        let raw: RawDockerEvent;
        try {
          raw = JSON.parse(line) as RawDockerEvent;
        } catch {
          log.warn({ line: line.slice(0, 200) }, 'docker: unparseable event line');
          continue;
        }
        deliver(raw);
      }
    });
    s.on('error', (err: Error) => finish(err));
    s.on('end', () => finish());
    s.on('close', () => finish());

    if (missedEvents) {
      missedEvents = false;
      try {
        onReconnect?.();
      } catch (err) {
        log.error({ err: messageOf(err) }, 'docker: onReconnect handler threw');
      }
    }
  };

  void connect();

  return {
    close: () => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      request?.abort();
      request = null;
      if (stream) {
        const s = stream;
        stream = null;
        s.on('error', () => {}); // destroy may surface ECONNRESET/aborted; nobody cares now
        s.destroy();
      }
    },
  };

}
