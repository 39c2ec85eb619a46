import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobResults, plans } from '../server/db/schema';
import { closeAppPool } from './helpers/db';
import { capTar } from '../server/docker/archive';
import { killJob } from '../server/domain/jobs';
import { readResultsMeta, resultsBody, userResultsBytes, type ResultsMeter } from '../server/domain/results';
import { sweep } from '../server/sweepers';
import { reconcile } from '../server/worker/completion';
import { call, expectError, type Handler } from './helpers/api';
import { dockerAvailable } from './helpers/docker';
import { makeUser, OPERATOR } from './helpers/fixtures';
import { faultyRuntime, makeRig, waitStopped, type Rig } from './helpers/sweepers';

/**
 * Partial results: files a job left under its resultsPath are copied out of the container when it
 * ends (succeeded, failed, timed out after SIGTERM, killed, force-removed), capped by the plan,
 * served as a tar by GET /api/v1/jobs/:id/results and deleted by the TTL sweeper with the
 * container. Real PostgreSQL and the real Docker engine; the tar is read back and compared.
 */

async function untar(buf: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  Readable.from([buf]).pipe(ex);
  for await (const e of ex) {
    const parts: Buffer[] = [];
    for await (const c of e) parts.push(c as Buffer);
    out.set(e.header.name, Buffer.concat(parts));
  }
  return out;
}

async function makeTar(files: [string, Buffer][]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const [name, data] of files) await new Promise<void>((r, j) => p.entry({ name, size: data.length }, data, (e) => (e ? j(e) : r())));
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe('capTar (pure: a tar stream in, a capped valid tar out)', () => {
  const files: [string, Buffer][] = [
    ['out/a.txt', Buffer.from('alpha\n')],
    ['out/b.bin', Buffer.alloc(3000, 7)],
    ['out/c.bin', Buffer.alloc(3000, 9)],
  ];
  const cases: { name: string; max: number; kept: string[]; truncated: boolean }[] = [
    { name: 'everything fits', max: 1 << 20, kept: ['out/a.txt', 'out/b.bin', 'out/c.bin'], truncated: false },
    // a.txt: 512 header + 512 data; b.bin: 512 + 3072; trailer 1024 → 5632 for two entries.
    { name: 'exactly two entries fit', max: 5632, kept: ['out/a.txt', 'out/b.bin'], truncated: true },
    { name: 'one byte short of two', max: 5631, kept: ['out/a.txt'], truncated: true },
    { name: 'nothing fits', max: 100, kept: [], truncated: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await capTar(Readable.from([await makeTar(files)]), c.max);
      expect(r.truncated).toBe(c.truncated);
      expect(r.bytes).toBe(r.tar.length);
      expect(r.bytes).toBeLessThanOrEqual(c.max < 1024 ? 1024 : c.max);
      const got = await untar(r.tar);
      expect([...got.keys()]).toEqual(c.kept);
      for (const k of c.kept) expect(got.get(k)).toEqual(files.find(([n]) => n === k)![1]);
    });
  }
});

describe.skipIf(!dockerAvailable())('results (real Docker)', () => {
  let rig: Rig;
  let route: { GET: Handler };
  const tick = () => sweep(rig.ctx, 'timeout');
  const fetchResults = (id: string, key = rig.user.apiKey) => call(route.GET, 'GET', `/api/v1/jobs/${id}/results`, { key, params: { id } });
  /** The response body as bytes, unpacked: what a client downloads. */
  const download = async (id: string): Promise<{ res: Response; files: Map<string, Buffer>; bytes: number }> => {
    const res = await route.GET(new Request(`http://localhost/api/v1/jobs/${id}/results`, { headers: { authorization: `Bearer ${rig.user.apiKey}` } }), { params: Promise.resolve({ id }) });
    expect(res.status).toBe(200);
    const buf = Buffer.from(await res.arrayBuffer());
    return { res, files: await untar(buf), bytes: buf.length };
  };
  const numbers = Array.from({ length: 5000 }, (_, i) => `${i + 1}\n`).join('');
  // Writes files, says so, then hangs: the files must survive the timeout.
  const WRITE = 'mkdir -p /out/sub && echo alpha > /out/a.txt && seq 1 5000 > /out/sub/numbers.txt';

  beforeAll(async () => {
    rig = await makeRig();
    // The route handlers read the app context from the environment: point it at this rig's database.
    process.env.DATABASE_URL = rig.url;
    process.env.WARDEN_ADMIN_EMAIL = 'boot@test.local';
    process.env.WARDEN_ADMIN_PASSWORD = 'boot-password-1';
    route = (await import('../app/api/v1/jobs/[id]/results/route')) as unknown as typeof route;
  });
  afterAll(async () => {
    await closeAppPool();
    await rig?.close();
  });

  it('a job that writes under /out and then hangs past its deadline (ignoring SIGTERM) has those files in its tar', async () => {
    const j = await rig.start(['sh', '-c', `${WRITE} && trap "" TERM && echo started && sleep 300`], { timeoutSeconds: 3, gracePeriodSeconds: 1, waitFor: 'started', extra: { resultsPath: '/out' } });
    const d = j.deadlineAt!.getTime();
    rig.ctx.clock.set(d);
    expect((await tick()).planned.map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    rig.ctx.clock.set(d + 1000);
    expect((await tick()).planned.map((p) => p.kind)).toEqual(['sigkill']);
    await waitStopped(rig.docker, j.containerId!);
    rig.ctx.clock.set(d + 2000);
    await tick();
    const row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'timed_out', resultsPath: '/out', resultsTruncated: false });
    expect(row.resultsBytes).toBeGreaterThan(0);
    const r = await fetchResults(j.id);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-tar');
    expect(r.headers.get('warden-results-truncated')).toBe('false');
    const { files, bytes } = await download(j.id);
    expect(files.get('out/a.txt')?.toString()).toBe('alpha\n');
    expect(files.get('out/sub/numbers.txt')?.toString()).toBe(numbers);
    expect(Number(r.headers.get('content-length'))).toBe(bytes);
    expect(bytes).toBe(row.resultsBytes);
    expect((await rig.audits(j.id, 'job.results'))[0]!.details).toMatchObject({ path: '/out', truncated: false });
  });

  it('timed out after SIGTERM: what the job saves in its TERM trap is in the tar too', async () => {
    const j = await rig.start(['sh', '-c', `${WRITE} && trap "echo saved-on-term > /out/final.txt; exit 0" TERM; echo started; sleep 300 & wait`], { timeoutSeconds: 3, gracePeriodSeconds: 2, waitFor: 'started', extra: { resultsPath: '/out' } });
    rig.ctx.clock.set(j.deadlineAt!);
    await tick();
    await waitStopped(rig.docker, j.containerId!);
    rig.ctx.clock.set(j.deadlineAt!.getTime() + 2000);
    await tick();
    const row = await rig.job(j.id);
    expect(row.status).toBe('timed_out');
    const { files } = await download(j.id);
    expect(files.get('out/final.txt')?.toString()).toBe('saved-on-term\n');
    expect(files.get('out/a.txt')?.toString()).toBe('alpha\n');
  });

  it('succeeded, failed and killed jobs keep their results too', async () => {
    const ok = await rig.start(['sh', '-c', 'mkdir /out && echo done > /out/r.txt && echo started && sleep 1'], { waitFor: 'started', extra: { resultsPath: '/out' } });
    const bad = await rig.start(['sh', '-c', 'mkdir /out && echo partial > /out/r.txt && echo started && sleep 1 && exit 3'], { waitFor: 'started', extra: { resultsPath: '/out' } });
    const kill = await rig.start(['sh', '-c', 'mkdir /out && echo half > /out/r.txt && echo started && sleep 300'], { waitFor: 'started', extra: { resultsPath: '/out' } });
    await killJob(rig.ctx, OPERATOR, kill.id, { force: true, reason: 'test' });
    for (const j of [ok, bad, kill]) await waitStopped(rig.docker, j.containerId!);
    await reconcile(rig.ctx, rig.docker);
    for (const [j, status, text] of [[ok, 'succeeded', 'done'], [bad, 'failed', 'partial'], [kill, 'killed', 'half']] as const) {
      expect((await rig.job(j.id)).status).toBe(status);
      const { files } = await download(j.id);
      expect(files.get('out/r.txt')?.toString()).toBe(`${text}\n`);
    }
  });

  it('a container that survives SIGKILL: results are copied before it is force-removed', async () => {
    const stuck = faultyRuntime(rig.docker, { kill: (_id, sig) => (sig === 'SIGKILL' ? 'noop' : 'pass') });
    const ctx = { ...rig.ctx, docker: stuck };
    const j = await rig.start(['sh', '-c', `${WRITE} && trap "" TERM && echo started && sleep 300`], { timeoutSeconds: 3, gracePeriodSeconds: 1, waitFor: 'started', extra: { resultsPath: '/out' } });
    const d = j.deadlineAt!.getTime();
    for (const [t, want] of [[d, ['timeout', 'sigterm']], [d + 1000, ['sigkill']], [d + 2000, ['remove']]] as const) {
      rig.ctx.clock.set(t);
      expect((await sweep(ctx, 'timeout')).planned.map((p) => p.kind)).toEqual(want);
    }
    expect(await rig.docker.inspect(j.containerId!)).toBeNull();
    expect((await rig.job(j.id)).status).toBe('timed_out');
    const { files } = await download(j.id);
    expect(files.get('out/sub/numbers.txt')?.toString()).toBe(numbers);
  });

  it("over the plan's maxResultsMb: whole files up to the cap, truncated and said so", async () => {
    await rig.db.update(plans).set({ maxResultsMb: 1 }).where(eq(plans.id, rig.plan.id));
    try {
      // Three 400 KiB files: the directory and two files fit in 1 MiB, the third does not.
      const j = await rig.start(['sh', '-c', 'mkdir /out && for i in 1 2 3; do dd if=/dev/zero of=/out/$i.bin bs=1024 count=400 2>/dev/null; done; echo started; sleep 1'], { waitFor: 'started', extra: { resultsPath: '/out' } });
      await waitStopped(rig.docker, j.containerId!);
      await reconcile(rig.ctx, rig.docker);
      const row = await rig.job(j.id);
      expect(row).toMatchObject({ status: 'succeeded', resultsTruncated: true });
      expect(row.resultsNote).toMatch(/Truncated at the 1 MB cap of plan sweep/);
      const r = await fetchResults(j.id);
      expect(r.headers.get('warden-results-truncated')).toBe('true');
      const saved = (await rig.db.select().from(jobResults).where(eq(jobResults.jobId, j.id)))[0]!;
      expect(saved.tar.length).toBeLessThanOrEqual(1024 * 1024);
      const files = await untar(saved.tar);
      const bins = [...files.keys()].filter((k) => k.endsWith('.bin'));
      expect(bins).toHaveLength(2);
      for (const b of bins) expect(files.get(b)).toEqual(Buffer.alloc(400 * 1024, 0));
    } finally {
      await rig.db.update(plans).set({ maxResultsMb: 50 }).where(eq(plans.id, rig.plan.id));
    }
  });

  it("over the plan's maxResultsTotalMb: the job keeps none and says so; the user's earlier results stay", async () => {
    // Room for 2 MiB more than what earlier tests left this user.
    const held = await userResultsBytes(rig.db, rig.user.id, crypto.randomUUID());
    const cap = Math.ceil(held / (1024 * 1024)) + 2;
    await rig.db.update(plans).set({ maxResultsTotalMb: cap }).where(eq(plans.id, rig.plan.id));
    try {
      // 1.5 MiB of random bytes each (incompressible): the first fits in the room, the second does not.
      const write = 'mkdir /out && dd if=/dev/urandom of=/out/r.bin bs=1024 count=1536 2>/dev/null; echo started; sleep 1';
      const first = await rig.start(['sh', '-c', write], { waitFor: 'started', extra: { resultsPath: '/out' } });
      await waitStopped(rig.docker, first.containerId!);
      await reconcile(rig.ctx, rig.docker);
      expect((await rig.job(first.id)).resultsBytes).toBeGreaterThan(1536 * 1024);
      const second = await rig.start(['sh', '-c', write], { waitFor: 'started', extra: { resultsPath: '/out' } });
      await waitStopped(rig.docker, second.containerId!);
      await reconcile(rig.ctx, rig.docker);
      const row = await rig.job(second.id);
      expect(row).toMatchObject({ status: 'succeeded', resultsBytes: null });
      expect(row.resultsNote).toContain(`above the ${cap} MB cap (maxResultsTotalMb) of plan sweep`);
      expect(row.resultsNote).toMatch(/^Not kept: /);
      expect(await rig.db.select({ j: jobResults.jobId }).from(jobResults).where(eq(jobResults.jobId, second.id))).toEqual([]);
      const r = await fetchResults(second.id);
      expectError(r, 404, 'no_results');
      expect(r.json.error.message).toMatch(/maxResultsTotalMb/);
      expect((await rig.audits(second.id, 'job.results'))[0]).toMatchObject({ success: false });
      // The first job's results are untouched and still download whole.
      const { files } = await download(first.id);
      expect(files.get('out/r.bin')?.length).toBe(1536 * 1024);
    } finally {
      await rig.db.update(plans).set({ maxResultsTotalMb: 500 }).where(eq(plans.id, rig.plan.id));
    }
  });

  it('a download streams from the database in chunks: never more than one chunk read at a time, bytes identical', async () => {
    const j = await rig.start(['sh', '-c', 'mkdir /out && dd if=/dev/urandom of=/out/big.bin bs=1024 count=3000 2>/dev/null; echo started; sleep 1'], { waitFor: 'started', extra: { resultsPath: '/out' } });
    await waitStopped(rig.docker, j.containerId!);
    await reconcile(rig.ctx, rig.docker);
    const saved = (await rig.db.select().from(jobResults).where(eq(jobResults.jobId, j.id)))[0]!;
    const meta = (await readResultsMeta(rig.db, j.id))!;
    expect(meta).toMatchObject({ attempt: saved.attempt, bytes: saved.tar.length });
    const meter: ResultsMeter = { reads: 0, maxChunkBytes: 0 };
    const chunk = 256 * 1024;
    const body = resultsBody(rig.db, j.id, meta.attempt, meta.bytes, { chunkBytes: chunk, meter });
    const got = Buffer.from(await new Response(body).arrayBuffer());
    expect(got.equals(saved.tar)).toBe(true);
    expect(meter.reads).toBe(Math.ceil(saved.tar.length / chunk));
    expect(meter.maxChunkBytes).toBe(chunk);
    // Through the route: the same bytes, Content-Length from the database.
    const d = await download(j.id);
    expect(d.bytes).toBe(saved.tar.length);
    expect(Number(d.res.headers.get('content-length'))).toBe(saved.tar.length);
    // Removed mid-download: the stream errors, it never splices or hangs.
    const cut = resultsBody(rig.db, j.id, meta.attempt, meta.bytes, { chunkBytes: chunk });
    const reader = cut.getReader();
    expect((await reader.read()).done).toBe(false);
    await rig.db.delete(jobResults).where(eq(jobResults.jobId, j.id));
    await expect((async () => { for (;;) if ((await reader.read()).done) return; })()).rejects.toThrow(/changed or were removed/);
  });

  it('no results: 404 in the error shape saying why; other users and no key are refused', async () => {
    const none = await rig.start(['sh', '-c', 'echo started; sleep 1'], { waitFor: 'started' });
    const missing = await rig.start(['sh', '-c', 'echo started; sleep 1'], { waitFor: 'started', extra: { resultsPath: '/nope' } });
    const r0 = await fetchResults(missing.id);
    expectError(r0, 404, 'no_results');
    expect(r0.json.error.message).toMatch(/is running: \/nope is copied out when it ends/);
    for (const j of [none, missing]) await waitStopped(rig.docker, j.containerId!);
    await reconcile(rig.ctx, rig.docker);
    const a = await fetchResults(none.id);
    expectError(a, 404, 'no_results');
    expect(a.json.error.message).toMatch(/has no resultsPath/);
    const b = await fetchResults(missing.id);
    expectError(b, 404, 'no_results');
    expect(b.json.error.message).toMatch(/\/nope does not exist in the container/);
    expectError(await call(route.GET, 'GET', '/x', { params: { id: none.id } }), 401);
    const other = await makeUser(rig.ctx, { plan: { name: rig.plan.name } });
    expectError(await fetchResults(missing.id, other.apiKey), 404, 'not_found');
  });

  it('the TTL sweeper deletes the results with the container', async () => {
    const j = await rig.start(['sh', '-c', 'mkdir /out && echo bye > /out/r.txt && echo started && sleep 1'], { waitFor: 'started', extra: { resultsPath: '/out' } });
    await waitStopped(rig.docker, j.containerId!);
    await reconcile(rig.ctx, rig.docker);
    const row = await rig.job(j.id);
    expect((await fetchResults(j.id)).status).toBe(200);
    rig.ctx.clock.set(row.ttlExpiresAt!);
    await sweep(rig.ctx, 'ttl');
    const after = await rig.job(j.id);
    expect(after.cleanedAt).not.toBeNull();
    expect(after.resultsBytes).toBeNull();
    expect(await rig.docker.inspect(j.containerId!)).toBeNull();
    expect(await rig.db.select().from(jobResults).where(eq(jobResults.jobId, j.id))).toEqual([]);
    const r = await fetchResults(j.id);
    expectError(r, 404, 'no_results');
    expect(r.json.error.message).toMatch(/Removed with the container/);
    expect((await rig.audits(j.id, 'job.cleaned'))[0]!.details).toMatchObject({ results: 'deleted' });
  });
});
