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
import { containerTag, CursorSeek, LineIds, parseCursor, resumeSince } from '../server/dashboard/log-cursor';
import { DockerLogLines, LOG_LINE_MAX_BYTES, splitTimestamp } from '../server/docker/log-lines';
import { createDockerRuntime } from '../server/docker/runtime';
import type { LogLine } from '../server/runtime/types';
import { setupApi, type ApiHarness, type Handler } from './helpers/api';
import { sse } from './helpers/sse';
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
    // Each line's place for a reconnect (Last-Event-ID), but for the first: what came before it is not known.
    const ids = s.lineEvents().map((e) => e.id);
    expect(ids[0]).toBeUndefined();
    for (const i of ids.slice(1)) expect(i).toMatch(/^[0-9a-f]{8}\.\d+\.\d+\.\d+$/);
    expect(new Set(ids.slice(1)).size).toBe(3);
    // A fresh stream clears the client's last event id first.
    expect(s.events[0]!.id).toBe('');
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
    // Saved lines have no times: no place to resume from.
    expect(s.lineEvents().map((e) => e.id)).toEqual([undefined, undefined]);
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

describe('reconnect: Last-Event-ID resumes after the last line seen', () => {
  const auth = () => ({ authorization: `Bearer ${user.key}` });
  const open = (id: string, headers: Record<string, string>, ac: AbortController, query = '') => get(v1, `/api/v1/jobs/${id}/logs/stream${query}`, id, headers, ac.signal);

  it('a reconnect with the last id gets only the lines written since, live after that; ids go on', async () => {
    const cid = await container('for i in 1 2 3; do echo line-$i; done; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo line-4; sleep 0.3; echo line-5 >&2; while [ ! -f /tmp/go2 ]; do sleep 0.1; done; echo line-6; sleep 30');
    const id = await jobRow(user.id, { containerId: cid });
    const ac1 = new AbortController();
    const a = sse(await open(id, auth(), ac1));
    await a.until(() => a.lines().length >= 3, 'the first three lines');
    expect(a.events[0]).toMatchObject({ event: 'hello', data: { resumed: false } });
    const last = a.lastEventId;
    expect(last).toBe(a.lineEvents()[2]!.id);
    // The client goes away; the container writes on.
    ac1.abort();
    execFileSync('docker', ['exec', cid, 'touch', '/tmp/go']);
    await waitFor(async () => (await rt.logsTail(cid)).includes('line-5'), { what: 'line-5 to be written' });

    const ac2 = new AbortController();
    const b = sse(await open(id, { ...auth(), 'last-event-id': last }, ac2));
    await b.until(() => b.lines().length >= 2, 'the lines written while away');
    expect(b.events[0]).toMatchObject({ event: 'hello', data: { jobId: id, status: 'running', resumed: true } });
    // A resumed stream keeps the client's last id until a new one comes.
    expect(b.events[0]!.id).toBeUndefined();
    expect(b.lines().map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'line-4'],
      ['stderr', 'line-5'],
    ]);
    execFileSync('docker', ['exec', cid, 'touch', '/tmp/go2']);
    await b.until(() => b.lines().length >= 3, 'the line written after the reconnect');
    expect(b.lines().map((l) => l.text)).toEqual(['line-4', 'line-5', 'line-6']);
    const ids = b.lineEvents().map((e) => e.id!);
    expect(ids.every((i) => /^[0-9a-f]{8}\.\d+\.\d+\.\d+$/.test(i))).toBe(true);
    // Five lines with ids (the first line of a's read has none), all different.
    expect(new Set([...a.lineEvents().map((e) => e.id).filter((i) => i !== undefined), ...ids]).size).toBe(5);

    // Reconnecting again from the middle of what b got: only what followed it.
    const ac3 = new AbortController();
    const c = sse(await open(id, { ...auth(), 'last-event-id': ids[0]! }, ac3));
    await c.until(() => c.lines().length >= 2, 'the lines after line-4');
    expect(c.lines().map((l) => l.text)).toEqual(['line-5', 'line-6']);
    expect(c.events[0]!.data).toMatchObject({ resumed: true });
    ac2.abort();
    ac3.abort();
  });

  it('exact across 6,000 interleaved stdout/stderr lines: the part before the id and the part after make the whole log once', async () => {
    const cid = await container('i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo o$i; echo e$i >&2; done');
    await waitFor(async () => !(await rt.inspect(cid))?.running, { what: 'the container to stop', timeoutMs: 60_000 });
    const id = await jobRow(user.id, { containerId: cid, status: 'succeeded', exitCode: 0, finishedAt: new Date() });
    const key = (l: { stream: string | null; text: string }) => `${l.stream}:${l.text}`;
    const whole = sse(await open(id, auth(), new AbortController(), '?tail=10000'));
    await whole.until(() => whole.ended, 'the whole log');
    const all = whole.lines().map(key);
    expect(all).toHaveLength(6000);
    expect(new Set(all).size).toBe(6000);
    // Cut at several places, each a reconnect from there.
    for (const cut of [1, 2, 777, 3001, 5998, 5999]) {
      const idAt = whole.lineEvents()[cut]!.id!;
      const rest = sse(await open(id, { ...auth(), 'last-event-id': idAt }, new AbortController(), '?tail=10'));
      await rest.until(() => rest.ended, `the rest after line ${cut + 1}`);
      expect(rest.events[0]!.data).toMatchObject({ resumed: true });
      expect(rest.lines().map(key)).toEqual(all.slice(cut + 1));
      expect(rest.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    }
  });

  it('an id too old (more than 10,000 lines back), of another container or not ours: the tail as on a first connection, and the old id cleared', async () => {
    const cid = await container('echo early-1; echo early-2; echo early-3; while [ ! -f /tmp/go ]; do sleep 0.1; done; seq 1 12000; sleep 30');
    const id = await jobRow(user.id, { containerId: cid });
    const ac1 = new AbortController();
    const a = sse(await open(id, auth(), ac1));
    await a.until(() => a.lines().length >= 3, 'the early lines');
    const old = a.lastEventId;
    expect(old).not.toBe('');
    ac1.abort();
    execFileSync('docker', ['exec', cid, 'touch', '/tmp/go']);
    await waitFor(async () => /\n12000\n$/.test(await rt.logsTail(cid)), { what: 'all 12,000 lines to be written', timeoutMs: 60_000 });
    const other = await container('echo other-1; echo other-2; sleep 30');
    const otherJob = await jobRow(user.id, { containerId: other });
    const o = sse(await open(otherJob, auth(), new AbortController()));
    await o.until(() => o.lines().length >= 2, 'the other container\'s lines');
    for (const [what, lastId] of [
      ['too old', old],
      ['another container\'s', o.lastEventId],
      ['malformed', 'not-an-id'],
      ['a plain number', '4'],
    ] as const) {
      const ac = new AbortController();
      const b = sse(await open(id, { ...auth(), 'last-event-id': lastId }, ac, '?tail=5'));
      await b.until(() => b.lines().length >= 5, `${what}: the tail`);
      expect(b.events[0], what).toMatchObject({ event: 'hello', data: { resumed: false }, id: '' });
      expect(b.lines().map((l) => l.text), what).toEqual(['11996', '11997', '11998', '11999', '12000']);
      ac.abort();
    }
  });
});

describe('log cursors (the ids), by themselves', () => {
  const tag = containerTag('c1');
  // A log as the engine keeps it: each line's time in ns; equal times, and times out of order.
  const log = [100n, 200n, 200n, 200n, 150n, 300n, 300n, 400n].map((t) => (t + 10_000_000_000n).toString());
  const readFrom = (cursor: string, lines = log) => {
    const cur = parseCursor(cursor)!;
    const seek = new CursorSeek(cur);
    const since = resumeSince(cur);
    // The runtime's since cut (none of these is that early).
    const shown = lines.map((ns, i) => ({ ns, i })).filter((l) => BigInt(l.ns) >= since);
    for (const [n, l] of shown.entries()) {
      const v = seek.next(l.ns);
      if (v === 'found') return shown.slice(n + 1).map((x) => x.i);
      if (v === 'lost') return 'lost';
    }
    return 'lost';
  };

  it('every line but the first run gets an id; each id resumes right after its line', () => {
    const ids = new LineIds(tag);
    const got = log.map((ns) => ids.next(ns));
    expect(got[0]).toBeUndefined();
    expect(got.slice(1).every((x) => x !== undefined)).toBe(true);
    expect(got[2]).toBe(`${tag}.10000000100.10000000200.2`);
    for (let i = 1; i < log.length; i++) expect(readFrom(got[i]!)).toEqual(Array.from({ length: log.length - i - 1 }, (_, k) => i + 1 + k));
  });

  it('a fresh read that starts inside a run of equal times gives that run no ids (its place in the run is not known)', () => {
    const ids = new LineIds(tag);
    expect(log.slice(2).map((ns) => ids.next(ns) === undefined)).toEqual([true, true, false, false, false, false]);
  });

  it('lost: the run of the id\'s time cut off at the window\'s start, a run shorter than the id says, a line well after it first, ids resumed from carry on', () => {
    const ids = log.map(((t) => (ns: string) => t.next(ns))(new LineIds(tag)));
    // The window starts inside the run of 200s: the line before the run (100) is not in it.
    expect(readFrom(ids[3]!, log.slice(2))).toBe('lost');
    // The log has two 200s where the id says three.
    expect(readFrom(ids[3]!, [log[0]!, log[1]!, log[2]!, log[5]!])).toBe('lost');
    // Only lines from well after it.
    expect(readFrom(ids[7]!, [(20_000_000_000n).toString()])).toBe('lost');
    // Resuming from an id, the ids go on as if never cut.
    const cur = parseCursor(ids[4]!)!;
    const resumed = new LineIds(tag, cur);
    expect(log.slice(5).map((ns) => resumed.next(ns))).toEqual(ids.slice(5));
  });

  it('ids that are not ours are not cursors', () => {
    for (const bad of ['', '4', 'abc', `${tag}.1.1.1`, `${tag}.1.2.0`, `${tag}.x.2.1`, 'ABCDEF12.1.2.1']) expect(parseCursor(bad)).toBeNull();
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
    // The engine's time to the nanosecond, kept for resuming (and the offset and short forms read right).
    expect(out.map((l) => l.ns)).toEqual(['1781092800123456789', '1781092801000000000', '1781092802000000000', '1781092803000000000']);
    expect(splitTimestamp('2026-06-10T14:00:00.5+02:00 x')).toEqual({ at: '2026-06-10T12:00:00.500Z', ns: '1781092800500000000', text: 'x' });
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
