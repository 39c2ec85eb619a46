import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { CoreV1Api, Exec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('server-only', () => ({}));
import { jobs } from '../../server/db/schema';
import { eq } from 'drizzle-orm';
import { MAIN } from '../../server/k8s/pod';
import type { LogLine, LogLineStream, Runtime } from '../../server/runtime/types';
import { setupApi, type ApiHarness, type Handler } from '../helpers/api';
import { TEST_IMAGE } from '../helpers/docker';
import { kubeConfig, waitFor } from '../helpers/k8s';
import { sse } from '../helpers/sse';

/**
 * The job's log on the real Kubernetes test cluster (scripts/k8s-test-cluster.sh): the runtime's
 * `logLines` (the Pod log API: the last lines, then new ones as the Pod writes them, the end when
 * the Pod ends; a Pod not started yet waited for; a Pod that is gone) and the whole live log
 * route (`GET /api/v1/jobs/:id/logs/stream`) with WARDEN_RUNTIME=kubernetes, reconnects included.
 * Pods are made with the runtime in a namespace of this file's own, deleted at the end; a Pod is
 * told to write more by a file made with `exec` (no timing).
 */

const NS = `warden-logs-${crypto.randomBytes(3).toString('hex')}`;
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let h: ApiHarness;
let rt: Runtime;
let v1: { GET: Handler };
let userId = '';
let userKey = '';

/** Runs `cmd` in the Pod's job container (to make the files its script waits for). */
async function exec(pod: string, cmd: string[]): Promise<void> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  await new Promise<void>((resolve, reject) => {
    void new Exec(kc)
      .exec(NS, pod, MAIN, cmd, sink, sink, null, false, (s) => (s.status === 'Success' ? resolve() : reject(new Error(`exec ${cmd.join(' ')}: ${s.message}`))))
      .catch(reject);
  });
}

/** Reads a LogLineStream on demand: `take(n)` waits for n more lines; `rest()` reads to its end. */
function reader(s: LogLineStream) {
  const it = s[Symbol.asyncIterator]();
  return {
    async take(n: number): Promise<LogLine[]> {
      const out: LogLine[] = [];
      while (out.length < n) {
        const r = await it.next();
        if (r.done) throw new Error(`the log ended after ${JSON.stringify(out.map((l) => l.text))}, ${n} lines wanted`);
        out.push(r.value);
      }
      return out;
    },
    async rest(): Promise<LogLine[]> {
      const out: LogLine[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) out.push(r.value);
      return out;
    },
  };
}

const texts = (ls: LogLine[]) => ls.map((l) => l.text);
const pod = (name: string) => core.readNamespacedPod({ name, namespace: NS }).catch(() => null);
const run = (script: string) => rt.run({ image: TEST_IMAGE, command: ['sh', '-c', script], labels: { 'warden.test': NS } });
const running = (name: string) =>
  waitFor(async () => !!(await pod(name))?.status?.containerStatuses?.find((c) => c.name === MAIN)?.state?.running, { what: `Pod ${name} to run`, timeoutMs: 90_000 });
const ended = (name: string) =>
  waitFor(async () => !!(await pod(name))?.status?.containerStatuses?.find((c) => c.name === MAIN)?.state?.terminated, { what: `Pod ${name} to end`, timeoutMs: 90_000 });

beforeAll(async () => {
  h = await setupApi({ WARDEN_RUNTIME: 'kubernetes', WARDEN_K8S_NAMESPACE: NS, WARDEN_K8S_KEEPER_IMAGE: TEST_IMAGE, KUBECONFIG: process.env.KUBECONFIG ?? '', WARDEN_WORKER: 'off' });
  rt = h.ctx.docker!;
  expect(rt.kind).toBe('kubernetes');
  v1 = (await import('../../app/api/v1/jobs/[id]/logs/stream/route')) as unknown as typeof v1;
  const users = (await import('../../app/api/v1/users/route')) as unknown as { POST: Handler };
  const r = await users.POST(
    new Request('http://localhost/api/v1/users', { method: 'POST', headers: { authorization: `Bearer ${h.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: `k8s-logs-${NS}`, plan: 'free' }) }),
    { params: Promise.resolve({}) },
  );
  const u = (await r.json()) as { id: string; apiKey: string };
  userId = u.id;
  userKey = u.apiKey;
}, 300_000);

afterAll(async () => {
  await core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => {});
  await h?.close();
});

describe('Kubernetes runtime: logLines on a real cluster', () => {
  it('the last lines, then each new line as the Pod writes it, then the end when the Pod ends; afterwards the whole log, a tail, tail 0', async () => {
    const name = await run('for i in 1 2 3 4 5; do echo line-$i; done; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo after-1; echo after-2; while [ ! -f /tmp/end ]; do sleep 0.2; done; echo bye');
    await waitFor(async () => (await rt.logsTail(name)).includes('line-5'), { what: 'the first lines', timeoutMs: 90_000 });
    const s = await rt.logLines!(name, { tail: 3, follow: true });
    expect(s).not.toBeNull();
    const r = reader(s!);
    const first = await r.take(3);
    expect(texts(first)).toEqual(['line-3', 'line-4', 'line-5']);
    // The kubelet's time of each line (ms for people, ns for resuming); one merged stream.
    for (const l of first) {
      expect(l.stream).toBeNull();
      expect(l.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Math.abs(Date.parse(l.at!) - Date.now())).toBeLessThan(10 * 60_000);
      expect(l.ns).toMatch(/^\d{19}$/);
      expect(Number(BigInt(l.ns!) / 1_000_000n)).toBe(Date.parse(l.at!));
    }
    await exec(name, ['touch', '/tmp/go']);
    expect(texts(await r.take(2))).toEqual(['after-1', 'after-2']);
    await exec(name, ['touch', '/tmp/end']);
    // The Pod's container ends: so does the follow, after its last line.
    expect(texts(await r.rest())).toEqual(['bye']);
    await ended(name);

    const all = await rt.logLines!(name, { tail: 'all', follow: false });
    expect(texts(await reader(all!).rest())).toEqual(['line-1', 'line-2', 'line-3', 'line-4', 'line-5', 'after-1', 'after-2', 'bye']);
    const two = await rt.logLines!(name, { tail: 2, follow: false });
    expect(texts(await reader(two!).rest())).toEqual(['after-2', 'bye']);
    // tail 0 is no lines (not, as the client library's own log helper made it, the whole log).
    const none = await rt.logLines!(name, { tail: 0, follow: false });
    expect(await reader(none!).rest()).toEqual([]);
    // Following a Pod that has ended: its lines, then the end at once.
    const after = await rt.logLines!(name, { tail: 1, follow: true });
    expect(texts(await reader(after!).rest())).toEqual(['bye']);
    await rt.remove(name);
  });

  it('a Pod not started yet: the follow waits for its container instead of ending empty', async () => {
    const name = await run('echo first; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo second; sleep 300');
    // Asked for at once: the Pod is still being scheduled or its container created.
    const s = await rt.logLines!(name, { tail: 100, follow: true });
    expect(s).not.toBeNull();
    const r = reader(s!);
    expect(texts(await r.take(1))).toEqual(['first']);
    await exec(name, ['touch', '/tmp/go']);
    expect(texts(await r.take(1))).toEqual(['second']);
    s!.destroy();
    await rt.remove(name);
  });

  it('a Pod that is gone: null; a follow whose Pod is deleted ends; a follow given up mid-way is let go of cleanly', async () => {
    expect(await rt.logLines!('warden-no-such-pod', { tail: 10, follow: true })).toBeNull();
    expect(await rt.logLines!('warden-no-such-pod', { tail: 'all', follow: false })).toBeNull();

    const name = await run('echo hello; sleep 300');
    await running(name);
    // Given up mid-way (a reader who left): destroyed, with nothing left to fail behind it (an
    // unhandled error would fail this file); the next follow works as the first.
    const quit = await rt.logLines!(name, { tail: 10, follow: true });
    expect(texts(await reader(quit!).take(1))).toEqual(['hello']);
    quit!.destroy();
    const s = await rt.logLines!(name, { tail: 10, follow: true });
    const r = reader(s!);
    expect(texts(await r.take(1))).toEqual(['hello']);
    await core.deleteNamespacedPod({ name, namespace: NS, gracePeriodSeconds: 0 });
    // The kubelet stops the container: the follow ends (without a note of the kubelet's as a line).
    expect(await r.rest()).toEqual([]);
    await waitFor(async () => (await pod(name)) === null, { what: 'the Pod to be gone', timeoutMs: 90_000 });
    expect(await rt.logLines!(name, { tail: 10, follow: true })).toBeNull();
    expect(await rt.logLines!(name, { tail: 'all', follow: false })).toBeNull();
  });
});

describe('GET /api/v1/jobs/:id/logs/stream with WARDEN_RUNTIME=kubernetes', () => {
  const jobRow = async (containerId: string) => {
    const [j] = await h.db
      .insert(jobs)
      .values({ userId, image: TEST_IMAGE, command: ['sh'], status: 'running', containerId, maxRetries: 0, timeoutS: 300, timeoutSource: 'global', gracePeriodS: 1, queuedAt: new Date(), startedAt: new Date(), updatedAt: new Date() })
      .returning();
    return j!.id;
  };
  const open = (id: string, headers: Record<string, string>, signal?: AbortSignal) =>
    v1.GET(new Request(`http://localhost/api/v1/jobs/${id}/logs/stream`, { headers: { authorization: `Bearer ${userKey}`, ...headers }, signal }), { params: Promise.resolve({ id }) });

  it('lines live from the Pod, a reconnect with Last-Event-ID goes on after the last line seen, end when the job is final', async () => {
    const name = await run('for i in 1 2 3; do echo line-$i; done; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo line-4; echo line-5; while [ ! -f /tmp/end ]; do sleep 0.2; done; echo line-6');
    const id = await jobRow(name);
    const ac1 = new AbortController();
    const res = await open(id, {}, ac1.signal);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const a = sse(res);
    await a.until(() => a.lines().length >= 3, 'the first lines', 90_000);
    expect(a.events[0]).toMatchObject({ event: 'hello', data: { jobId: id, status: 'running', resumed: false }, id: '' });
    expect(a.lines().map((l) => [l.stream, l.text])).toEqual([
      [null, 'line-1'],
      [null, 'line-2'],
      [null, 'line-3'],
    ]);
    expect(a.lines().every((l) => typeof l.at === 'string')).toBe(true);
    const last = a.lastEventId;
    expect(last).toMatch(/^[0-9a-f]{8}\.\d+\.\d+\.\d+$/);
    ac1.abort();

    await exec(name, ['touch', '/tmp/go']);
    await waitFor(async () => (await rt.logsTail(name)).includes('line-5'), { what: 'line-5 to be written' });
    const b = sse(await open(id, { 'last-event-id': last }));
    await b.until(() => b.lines().length >= 2, 'the lines written while away', 60_000);
    expect(b.events[0]).toMatchObject({ event: 'hello', data: { resumed: true } });
    expect(b.lines().map((l) => l.text)).toEqual(['line-4', 'line-5']);
    await exec(name, ['touch', '/tmp/end']);
    await b.until(() => b.lines().length >= 3, 'the last line', 60_000);
    expect(b.lines().map((l) => l.text)).toEqual(['line-4', 'line-5', 'line-6']);
    // The Pod ended; the job becomes final (as the worker's completion would make it).
    await ended(name);
    await h.db.update(jobs).set({ status: 'succeeded', exitCode: 0, finishedAt: new Date(), reason: null }).where(eq(jobs.id, id));
    await b.until(() => b.ended, 'the stream to end', 60_000);
    expect(b.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded', exitCode: 0 } });

    // The Pod is gone: the saved tail, said so, then end.
    await h.db.update(jobs).set({ logTail: 'saved 1\nsaved 2\n' }).where(eq(jobs.id, id));
    await rt.remove(name);
    await waitFor(async () => (await pod(name)) === null, { what: 'the Pod to be gone', timeoutMs: 90_000 });
    const c = sse(await open(id, { 'last-event-id': last }));
    await c.until(() => c.ended, 'the saved tail', 60_000);
    expect(c.events.map((e) => e.event)).toEqual(['hello', 'source', 'line', 'line', 'end']);
    expect(c.events[0]!.data).toMatchObject({ resumed: false });
  });
});
