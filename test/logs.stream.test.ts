import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('server-only', () => ({}));
import { jobs, operators, sessions } from '../server/db/schema';
import { SESSION_COOKIE } from '../server/auth/session';
import { sha256 } from '../server/domain/secrets';
import { FollowSlots } from '../server/domain/log-follows';
import { openJobLogStream } from '../server/dashboard/log-stream';
import { DockerLogLines, LOG_LINE_MAX_BYTES } from '../server/docker/log-lines';
import { createDockerRuntime } from '../server/docker/runtime';
import type { LogLine } from '../server/runtime/types';
import { setupApi, type ApiHarness, type Handler } from './helpers/api';
import { TEST_IMAGE } from './helpers/docker';
import { waitFor } from './helpers/fixtures';

/**
 * The live log stream (`GET /api/v1/jobs/:id/logs/stream`, `GET /api/ui/jobs/:id/logs/stream`)
 * and the streamed download, through their route handlers on a real engine and database: lines
 * arrive live and in order with their stream and time, `end` comes when the job is final, the
 * saved tail when the container is gone, 4xx in the error shape, and nothing is held whole.
 */

const RUN = crypto.randomBytes(4).toString('hex');
const rt = createDockerRuntime();
let h: ApiHarness;
let v1: { GET: Handler };
let ui: { GET: Handler };
let uiLogs: { GET: Handler };
const containers: string[] = [];
let user = { id: '', key: '' };
let other = { id: '', key: '' };
let viewerCookie = '';

async function newUser(name: string): Promise<{ id: string; key: string }> {
  const usersRoute = (await import('../app/api/v1/users/route')) as unknown as { POST: Handler };
  const body = JSON.stringify({ name: `${name}-${RUN}`, plan: 'free' });
  const r = await usersRoute.POST(new Request('http://localhost/api/v1/users', { method: 'POST', headers: { authorization: `Bearer ${h.admin}`, 'content-type': 'application/json' }, body }), { params: Promise.resolve({}) });
  const j = (await r.json()) as { id: string; apiKey: string };
  return { id: j.id, key: j.apiKey };
}

async function container(script: string): Promise<string> {
  const id = await rt.run({ image: TEST_IMAGE, command: ['sh', '-c', script], labels: { 'warden.test': RUN }, network: 'none' });
  containers.push(id);
  return id;
}

async function jobRow(userId: string, o: Partial<typeof jobs.$inferInsert>): Promise<string> {
  const [j] = await h.db
    .insert(jobs)
    .values({ userId, image: TEST_IMAGE, command: ['sh'], status: 'running', maxRetries: 0, timeoutS: 300, timeoutSource: 'global', gracePeriodS: 1, queuedAt: new Date(), startedAt: new Date(), updatedAt: new Date(), ...o })
    .returning();
  return j!.id;
}

interface Ev {
  event: string;
  data: unknown;
  id?: string;
}
/** Reads Server-Sent Events off a response body as they come. */
function sse(res: Response) {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const events: Ev[] = [];
  const comments: string[] = [];
  let ended = false;
  const pump = async () => {
    const c = await reader.read();
    if (c.done) {
      ended = true;
      return;
    }
    buf += dec.decode(c.value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev: Ev = { event: 'message', data: null };
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comments.push(line);
        else if (line.startsWith('event: ')) ev.event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
        else if (line.startsWith('id: ')) ev.id = line.slice(4);
      }
      if (data) {
        ev.data = JSON.parse(data);
        events.push(ev);
      }
    }
  };
  return {
    events,
    comments,
    get ended() {
      return ended;
    },
    /** Reads until `pred` holds of what came so far. */
    async until(pred: () => boolean, what: string) {
      const t0 = Date.now();
      while (!pred()) {
        if (ended) throw new Error(`stream ended before ${what}: ${JSON.stringify(events).slice(-400)}`);
        if (Date.now() - t0 > 30_000) throw new Error(`no ${what} within 30 s`);
        await pump();
      }
    },
    lines: () => events.filter((e) => e.event === 'line').map((e) => e.data as LogLine),
    cancel: () => reader.cancel(),
  };
}

const get = (route: { GET: Handler }, path: string, id: string, headers: Record<string, string>, signal?: AbortSignal) =>
  route.GET(new Request(`http://localhost${path}`, { headers, signal }), { params: Promise.resolve({ id }) });

beforeAll(async () => {
  h = await setupApi({ DOCKER_HOST: 'unix:///var/run/docker.sock', WARDEN_WORKER: 'off' });
  v1 = (await import('../app/api/v1/jobs/[id]/logs/stream/route')) as unknown as typeof v1;
  ui = (await import('../app/api/ui/jobs/[id]/logs/stream/route')) as unknown as typeof ui;
  uiLogs = (await import('../app/api/ui/jobs/[id]/logs/route')) as unknown as typeof uiLogs;
  user = await newUser('streamer');
  other = await newUser('other');
  const [op] = await h.db.select().from(operators).where(eq(operators.email, 'viewer@test.local'));
  const token = crypto.randomBytes(32).toString('base64url');
  await h.db.insert(sessions).values({ id: sha256(token), operatorId: op!.id, expiresAt: new Date(Date.now() + 3600_000) });
  viewerCookie = `${SESSION_COOKIE}=${token}`;
}, 120_000);

afterAll(async () => {
  for (const c of containers) await rt.remove(c).catch(() => {});
  await h?.close();
});

describe('GET /api/v1/jobs/:id/logs/stream', () => {
  it('lines arrive live and in order, stderr marked, each with its time; end when the job is final', async () => {
    const cid = await container('echo one; sleep 0.3; echo two >&2; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo three; sleep 0.3; echo four >&2; exit 3');
    const id = await jobRow(user.id, { containerId: cid });
    const res = await get(v1, `/api/v1/jobs/${id}/logs/stream`, id, { authorization: `Bearer ${user.key}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toMatch(/no-transform/);
    const s = sse(res);
    await s.until(() => s.lines().length >= 2, 'the first two lines');
    expect(s.events[0]).toMatchObject({ event: 'hello', data: { jobId: id, status: 'running' } });
    // The engine copies stdout and stderr separately: the container sleeps between them so their order is its.
    // "three" is not written yet: the container waits for /tmp/go.
    expect(s.lines().map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'one'],
      ['stderr', 'two'],
    ]);
    execFileSync('docker', ['exec', cid, 'touch', '/tmp/go']);
    await s.until(() => s.lines().length >= 4, 'the lines written after the stream opened');
    expect(s.lines().map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'one'],
      ['stderr', 'two'],
      ['stdout', 'three'],
      ['stderr', 'four'],
    ]);
    const ats = s.lines().map((l) => Date.parse(l.at!));
    expect(ats.every((t) => Math.abs(t - Date.now()) < 120_000)).toBe(true);
    expect([...ats].sort((a, b) => a - b)).toEqual(ats);
    expect(s.events.filter((e) => e.event === 'line').map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    // The container stopped; the job becomes final (the worker is off here: as completion would).
    await waitFor(async () => !(await rt.inspect(cid))?.running, { what: 'the container to stop' });
    await h.db.update(jobs).set({ status: 'failed', exitCode: 3, finishedAt: new Date(), reason: 'exit code 3' }).where(eq(jobs.id, id));
    await s.until(() => s.events.some((e) => e.event === 'end'), 'the end event');
    expect(s.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'failed', exitCode: 3 } });
    await s.until(() => s.ended, 'the stream to close');
  });

  it('a finished job whose container still exists: every line from the stopped container, then end', async () => {
    const cid = await container('for i in 1 2 3 4 5 6; do echo out-$i; done');
    await waitFor(async () => !(await rt.inspect(cid))?.running, { what: 'the container to stop' });
    const id = await jobRow(user.id, { containerId: cid, status: 'succeeded', exitCode: 0, finishedAt: new Date(), logTail: 'stale saved tail\n' });
    const s = sse(await get(v1, `/api/v1/jobs/${id}/logs/stream?tail=4`, id, { authorization: `Bearer ${user.key}` }));
    await s.until(() => s.ended, 'the stream to end');
    // tail=4: the last four lines, from the engine (not the saved tail).
    expect(s.lines().map((l) => l.text)).toEqual(['out-3', 'out-4', 'out-5', 'out-6']);
    expect(s.lines().every((l) => l.stream === 'stdout' && l.at !== null)).toBe(true);
    expect(s.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
  });

  it('the container is gone: the saved tail, said so, then end', async () => {
    const cid = await container('echo gone');
    await rt.remove(cid);
    const id = await jobRow(user.id, { containerId: cid, status: 'lost', finishedAt: new Date(), logTail: 'saved 1\nsaved 2\n', reason: 'container vanished' });
    const s = sse(await get(v1, `/api/v1/jobs/${id}/logs/stream`, id, { authorization: `Bearer ${user.key}` }));
    await s.until(() => s.ended, 'the stream to end');
    expect(s.events.map((e) => e.event)).toEqual(['hello', 'source', 'line', 'line', 'end']);
    expect(s.lines()).toEqual([
      { at: null, stream: null, text: 'saved 1' },
      { at: null, stream: null, text: 'saved 2' },
    ]);
    expect(s.events.at(-1)!.data).toMatchObject({ status: 'lost', reason: 'container vanished' });
  });

  it('4xx in the error shape: no key, a bad id, an id of nothing, another user\'s job, a bad tail; viewers read (the contract: viewer reads)', async () => {
    const cid = await container('echo mine; sleep 30');
    const id = await jobRow(user.id, { containerId: cid });
    const err = async (r: Response, status: number, code: string) => {
      expect(r.status).toBe(status);
      const b = (await r.json()) as { error: { code: string; message: string } };
      expect(b.error.code).toBe(code);
      expect(b.error.message.length).toBeGreaterThan(5);
    };
    await err(await get(v1, `/api/v1/jobs/${id}/logs/stream`, id, {}), 401, 'unauthorized');
    await err(await get(v1, '/api/v1/jobs/abcd/logs/stream', 'abcd', { authorization: `Bearer ${user.key}` }), 422, 'id_too_short');
    const nothing = '00000000-0000-4000-8000-000000000000';
    await err(await get(v1, `/api/v1/jobs/${nothing}/logs/stream`, nothing, { authorization: `Bearer ${user.key}` }), 404, 'not_found');
    await err(await get(v1, `/api/v1/jobs/${id}/logs/stream`, id, { authorization: `Bearer ${other.key}` }), 404, 'not_found');
    await err(await get(v1, `/api/v1/jobs/${id}/logs/stream?tail=-1`, id, { authorization: `Bearer ${user.key}` }), 422, 'validation_failed');
    await err(await get(v1, `/api/v1/jobs/${id}/logs/stream?tial=5`, id, { authorization: `Bearer ${user.key}` }), 422, 'validation_failed');
    // An operator key of the viewer role, and the dashboard's viewer session: both read.
    for (const [route, path, headers] of [
      [v1, `/api/v1/jobs/${id}/logs/stream`, { authorization: `Bearer ${h.viewer}` }],
      [ui, `/api/ui/jobs/${id}/logs/stream`, { cookie: viewerCookie }],
    ] as const) {
      const ac = new AbortController();
      const s = sse(await get(route, path, id, headers, ac.signal));
      await s.until(() => s.lines().some((l) => l.text === 'mine'), `${path}: the line`);
      ac.abort();
    }
    await err(await get(ui, `/api/ui/jobs/${id}/logs/stream`, id, {}), 401, 'unauthorized');
    // A short id (unique prefix of 6+) works like the full one.
    const short = id.slice(0, 8);
    const ac = new AbortController();
    const s = sse(await get(v1, `/api/v1/jobs/${short}/logs/stream`, short, { authorization: `Bearer ${user.key}` }, ac.signal));
    await s.until(() => s.lines().length > 0, 'a line by short id');
    ac.abort();
  });

  it('a queued job is waited for; keep-alive comments; the follow slot is given back when the reader leaves', async () => {
    const id = await jobRow(user.id, { status: 'queued', startedAt: null });
    const slots = new FollowSlots(10);
    const ac = new AbortController();
    const actor = { kind: 'user' as const, id: user.id, name: 'streamer' };
    const body = await openJobLogStream(h.ctx, actor, id, { signal: ac.signal, keepAliveMs: 200, slots });
    expect(slots.count()).toBe(1);
    const s = sse(new Response(body));
    await s.until(() => s.comments.length >= 2, 'two keep-alive comments');
    expect(s.comments[0]).toBe(': keep-alive');
    // The job starts: its container's lines follow.
    const cid = await container('echo started-late; sleep 30');
    await h.db.update(jobs).set({ status: 'running', containerId: cid, startedAt: new Date() }).where(eq(jobs.id, id));
    await s.until(() => s.lines().some((l) => l.text === 'started-late'), 'the line of the job that started');
    ac.abort();
    await waitFor(() => slots.count() === 0, { what: 'the slot to come back' });
  });
});

describe('download: the whole log, streamed', () => {
  it('200,000 lines come through whole and in order, in many chunks, with timestamps on request', async () => {
    const cid = await container('seq 1 200000');
    await waitFor(async () => !(await rt.inspect(cid))?.running, { what: 'the container to stop', timeoutMs: 60_000 });
    const id = await jobRow(user.id, { containerId: cid, status: 'succeeded', exitCode: 0, finishedAt: new Date() });
    const res = await get(uiLogs, `/api/ui/jobs/${id}/logs?download=1`, id, { cookie: viewerCookie });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="job-${id}.log"`);
    const reader = res.body!.getReader();
    let chunks = 0;
    let largest = 0;
    const parts: string[] = [];
    for (;;) {
      const c = await reader.read();
      if (c.done) break;
      chunks++;
      largest = Math.max(largest, c.value.byteLength);
      parts.push(Buffer.from(c.value).toString('utf8'));
    }
    const lines = parts.join('').split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(200_001);
    expect(lines.slice(0, -1)).toEqual(Array.from({ length: 200_000 }, (_, i) => String(i + 1)));
    // ~1.3 MB in chunks of ~32 KiB: never the whole log in one piece.
    expect(chunks).toBeGreaterThan(20);
    expect(largest).toBeLessThan(64 * 1024);
    const ts = await get(uiLogs, `/api/ui/jobs/${id}/logs?download=1&timestamps=1`, id, { cookie: viewerCookie });
    const first = (await ts.text()).split('\n', 1)[0]!;
    expect(first).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 1$/);
  });
});

describe('DockerLogLines: bounded whatever the engine sends', () => {
  const frame = (stream: 1 | 2, payload: Buffer) => {
    const h8 = Buffer.alloc(8);
    h8[0] = stream;
    h8.writeUInt32BE(payload.length, 4);
    return Buffer.concat([h8, payload]);
  };

  it('frames split anywhere, lines split across frames, a 4 MiB line cut at the cap', async () => {
    const meter = { peakHeldBytes: 0 };
    const t = new DockerLogLines({ meter });
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const data = Buffer.concat([
      frame(1, Buffer.from('2026-06-10T12:00:00.123456789Z hello\n')),
      frame(2, Buffer.from('2026-06-10T12:00:01.000000000Z half ')),
      frame(2, Buffer.from('a line\n')),
      frame(1, Buffer.concat([Buffer.from('2026-06-10T12:00:02Z '), big, Buffer.from('\n')])),
      frame(1, Buffer.from('2026-06-10T12:00:03Z after\n')),
    ]);
    // Fed in 7-byte pieces: headers and payloads split everywhere.
    const src = new PassThrough();
    const out: LogLine[] = [];
    const done = (async () => {
      for await (const l of src.pipe(t)) out.push(l as LogLine);
    })();
    for (let i = 0; i < data.length; i += 7) src.write(data.subarray(i, i + 7));
    src.end();
    await done;
    expect(out.map((l) => [l.at, l.stream, l.text.slice(0, 20)])).toEqual([
      ['2026-06-10T12:00:00.123Z', 'stdout', 'hello'],
      ['2026-06-10T12:00:01.000Z', 'stderr', 'half a line'],
      ['2026-06-10T12:00:02.000Z', 'stdout', 'aaaaaaaaaaaaaaaaaaaa'],
      ['2026-06-10T12:00:03.000Z', 'stdout', 'after'],
    ]);
    expect(out[2]!.text).toMatch(/… \[line cut at 16 KiB\]$/);
    expect(out[2]!.text.length).toBeLessThan(LOG_LINE_MAX_BYTES + 100);
    expect(meter.peakHeldBytes).toBeLessThanOrEqual(LOG_LINE_MAX_BYTES);
  });

  it('backpressure: a reader that stops stops the reading (the source is not drained)', async () => {
    let produced = 0;
    const src = new Readable({
      read() {
        produced++;
        this.push(frame(1, Buffer.from(`2026-06-10T12:00:00Z line ${produced}\n`)));
      },
    });
    const t = src.pipe(new DockerLogLines());
    const it = t[Symbol.asyncIterator]();
    await it.next();
    await waitFor(() => produced > 10, { what: 'some reading' });
    // Nobody reads any more: the pipe pauses the source once the buffers are full (a few
    // hundred lines), instead of draining it into memory.
    await waitFor(() => src.isPaused(), { what: 'the source to be paused' });
    expect(produced).toBeLessThan(2000);
    expect(t.readableLength).toBeLessThanOrEqual(t.readableHighWaterMark);
    src.destroy();
  });
});
