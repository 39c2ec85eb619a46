import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import type { Ctx } from '../context';
import { jobs } from '../db/schema';
import type { Actor } from '../domain/actor';
import { parseInput } from '../domain/errors';
import { getJob } from '../domain/jobs';
import { followSlots, type FollowSlots } from '../domain/log-follows';
import { containerTag, CursorSeek, LineIds, parseCursor, resumeSince, RESUME_WINDOW, type LogCursor } from './log-cursor';
import { logStreamQuerySchema } from '../domain/schemas';
import { isFinal } from '../domain/status';
import type { LogLine, LogLineStream } from '../runtime/types';
import { config } from '../config';

/**
 * A job's log line by line, live: `GET /api/v1/jobs/:id/logs/stream` (API key) and
 * `GET /api/ui/jobs/:id/logs/stream` (the dashboard's session) as Server-Sent Events.
 *
 *   event: hello  data: {"jobId","status","resumed"}   (id: '' unless resumed: clears an old id)
 *   event: line   data: {"at","stream","text"}     (id: its place, log-cursor.ts)  each line, in the engine's order
 *   event: source data: {"source":"saved"}          the container is gone: the saved tail follows
 *   event: end    data: {"status","exitCode","reason"}  the job is final (or its container stopped
 *                                                   and it did not become final within END_WAIT_MS)
 *   : keep-alive                                    a comment every KEEPALIVE_MS, so proxies keep it
 *
 * Lines come from the runtime (Runtime.logLines: the last `tail` lines, then new ones until the
 * container stops), read with backpressure: the next line is read from the engine only when the
 * client took the last one, so the server never holds a log whole. A job not started yet is
 * waited for (one primary-key read a second). When the container is gone, the saved tail
 * (64 KiB, no timestamps, streams not told apart) is served and the stream ends. If the engine
 * fails mid-way the stream closes without `end`: the client reconnects (resuming, below) or polls.
 *
 * A reconnect sends the last id it saw as Last-Event-ID: the line is looked for in the container's
 * log (log-cursor.ts: the last RESUME_WINDOW lines since a second before it) and the stream goes on
 * after it (`resumed`), else (not found within RESUME_SEEK_MS, another container, not an id) it
 * starts afresh with the tail.
 *
 * Each stream takes one of the reader's and the server's log-follow slots (log-follows.ts: 4 per
 * user or operator, WARDEN_MAX_LOG_FOLLOWS per process; 429 with Retry-After beyond).
 */

export const LOG_KEEPALIVE_MS = 15_000;
/** Once the container stopped, how long to wait for the job to become final before `end`. */
export const END_WAIT_MS = 30_000;
export const LOG_STREAM_TAIL_DEFAULT = 1000;
/** How long a resume may look for the client's last line before giving up on it (the tail then). */
const RESUME_SEEK_MS = 10_000;
const enc = new TextEncoder();
/** `id` '' resets the client's last event id (a fresh stream: an old id must not be sent back). */
const frame = (event: string, data: unknown, id?: string) => `${id === undefined ? '' : id === '' ? 'id:\n' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const lineData = (l: LogLine) => ({ at: l.at, stream: l.stream, text: l.text });

function savedLines(tail: string | null): LogLine[] {
  const lines = (tail ?? '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((text) => ({ at: null, stream: null, text }));
}

interface Opts {
  tail?: number;
  /** The Last-Event-ID request header: resume after that line (log-cursor.ts) when it can be found. */
  lastEventId?: string | null;
  signal: AbortSignal;
  keepAliveMs?: number;
  endWaitMs?: number;
  slots?: FollowSlots;
}

/**
 * Reads `s` until the cursor's line (then the iterator is left just after it) or until the line
 * cannot come (more than RESUME_WINDOW lines ago, or not in this log): false, `s` destroyed.
 */
async function seek(s: LogLineStream, it: AsyncIterator<LogLine>, cursor: LogCursor): Promise<boolean> {
  const look = new CursorSeek(cursor);
  let timer: NodeJS.Timeout | null = null;
  const giveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), RESUME_SEEK_MS);
    timer.unref?.();
  });
  try {
    for (;;) {
      const r = await Promise.race([it.next(), giveUp]);
      if (r === 'timeout' || r.done) break;
      const v = look.next(r.value.ns);
      if (v === 'found') return true;
      if (v === 'lost') break;
    }
  } catch {
    /* the engine failed: start afresh */
  } finally {
    if (timer) clearTimeout(timer);
  }
  s.destroy();
  return false;
}

/** Checks the reader may see the job (404 otherwise) and takes a follow slot (429), then streams. */
export async function openJobLogStream(ctx: Ctx, actor: Actor, id: string, o: Opts): Promise<ReadableStream<Uint8Array>> {
  const job = await getJob(ctx, actor, id);
  const release = (o.slots ?? followSlots(config().WARDEN_MAX_LOG_FOLLOWS)).acquire(actor);
  const tail = o.tail ?? LOG_STREAM_TAIL_DEFAULT;
  const cursor = parseCursor(o.lastEventId);
  const ac = new AbortController();
  let current: LogLineStream | null = null;
  let timer: NodeJS.Timeout | null = null;
  const reload = async () => {
    const [r] = await ctx.db.select({ status: jobs.status, containerId: jobs.containerId, exitCode: jobs.exitCode, reason: jobs.reason, logTail: jobs.logTail }).from(jobs).where(eq(jobs.id, job.id));
    return r ?? null;
  };

  async function* frames(): AsyncGenerator<string> {
    let j = { status: job.status, containerId: job.containerId, exitCode: job.exitCode, reason: job.reason, logTail: job.logTail };
    // A reconnect: find the client's last line in the container's log and go on after it.
    let resumed: { it: AsyncIterator<LogLine>; ids: LineIds } | null = null;
    if (cursor && j.containerId && cursor.c === containerTag(j.containerId) && ctx.docker?.logLines) {
      const s = await ctx.docker.logLines(j.containerId, { tail: RESUME_WINDOW, follow: !isFinal(j.status), sinceNs: resumeSince(cursor) }).catch(() => null);
      if (s) {
        current = s;
        const it = s[Symbol.asyncIterator]();
        if (await seek(s, it, cursor)) resumed = { it, ids: new LineIds(cursor.c, cursor) };
        else current = null;
      }
    }
    yield `retry: 3000\n\n${frame('hello', { jobId: job.id, status: job.status, resumed: resumed !== null }, resumed ? undefined : '')}`;
    let served = false;
    if (resumed) {
      // An engine error mid-way throws out of here: the stream closes without `end`.
      for (let r = await resumed.it.next(); !r.done; r = await resumed.it.next()) yield frame('line', lineData(r.value), resumed.ids.next(r.value.ns));
      current = null;
      served = true;
    } else {
      while (!j.containerId && !isFinal(j.status)) {
        await sleep(1000, undefined, { signal: ac.signal });
        const r = await reload();
        if (!r) return;
        j = r;
      }
      if (j.containerId && ctx.docker?.logLines) {
        const s = await ctx.docker.logLines(j.containerId, { tail, follow: !isFinal(j.status) }).catch(() => null);
        if (s) {
          current = s;
          const ids = new LineIds(containerTag(j.containerId));
          for await (const line of s) yield frame('line', lineData(line), ids.next(line.ns));
          current = null;
          served = true;
        }
      }
    }
    if (!served) {
      const r = (await reload()) ?? j;
      j = r;
      yield frame('source', { source: 'saved' });
      const saved = savedLines(r.logTail);
      for (const line of tail === 0 ? [] : saved.slice(-tail)) yield frame('line', lineData(line));
    }
    const until = Date.now() + (o.endWaitMs ?? END_WAIT_MS);
    while (!isFinal(j.status) && Date.now() < until) {
      await sleep(250, undefined, { signal: ac.signal });
      const r = await reload();
      if (!r) break;
      j = r;
    }
    yield frame('end', { status: j.status, exitCode: j.exitCode, reason: j.reason });
  }

  const it = frames();
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    if (timer) clearInterval(timer);
    ac.abort();
    current?.destroy();
    release();
    void it.return(undefined).catch(() => {});
  };
  o.signal.addEventListener('abort', finish, { once: true });
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        timer = setInterval(() => {
          try {
            c.enqueue(enc.encode(': keep-alive\n\n'));
          } catch {
            /* closed */
          }
        }, o.keepAliveMs ?? LOG_KEEPALIVE_MS);
        timer.unref?.();
      },
      async pull(c) {
        try {
          const r = await it.next();
          if (r.done) {
            finish();
            c.close();
          } else c.enqueue(enc.encode(r.value));
        } catch {
          finish();
          try {
            c.close();
          } catch {
            /* cancelled */
          }
        }
      },
      cancel() {
        finish();
      },
    },
    { highWaterMark: 1 },
  );
}

/**
 * The whole log as a text download, line by line from the runtime (every line the engine kept,
 * the container running or stopped), else the saved tail. `timestamps` prefixes each line with
 * its time; stderr lines are not marked (the file is the program's output). Streamed with
 * backpressure like the live stream, and holding a follow slot while it lasts.
 */
export async function openJobLogDownload(ctx: Ctx, actor: Actor, id: string, o: { timestamps: boolean; signal: AbortSignal; slots?: FollowSlots }): Promise<ReadableStream<Uint8Array>> {
  const job = await getJob(ctx, actor, id);
  const release = (o.slots ?? followSlots(config().WARDEN_MAX_LOG_FOLLOWS)).acquire(actor);
  let s: LogLineStream | null = null;
  try {
    if (job.containerId && ctx.docker?.logLines) s = await ctx.docker.logLines(job.containerId, { tail: 'all', follow: false }).catch(() => null);
  } catch {
    s = null;
  }
  const saved = savedLines(job.logTail);
  const src: AsyncIterable<LogLine> = s ?? (async function* () {
    yield* saved;
  })();
  const iter = src[Symbol.asyncIterator]();
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    s?.destroy();
    release();
  };
  o.signal.addEventListener('abort', finish, { once: true });
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      // A few hundred lines a chunk: one engine frame per line would make tiny writes.
      let out = '';
      try {
        while (out.length < 32 * 1024) {
          const r = await iter.next();
          if (r.done) {
            if (out) c.enqueue(enc.encode(out));
            finish();
            c.close();
            return;
          }
          out += `${o.timestamps && r.value.at ? `${r.value.at} ` : ''}${r.value.text}\n`;
        }
        c.enqueue(enc.encode(out));
      } catch {
        finish();
        c.error(new Error('the log could not be read to the end'));
      }
    },
    cancel() {
      finish();
    },
  });
}

export function parseLogStreamQuery(raw: Record<string, string>) {
  return parseInput(logStreamQuerySchema, raw);
}
