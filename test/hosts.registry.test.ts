import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The registry allowlist is a setting (server/config.ts), read once per process: this file's
// registries are on 127.0.0.1, which the default rule refuses. Set before anything reads config().
process.env.WARDEN_REGISTRIES = '127.0.0.1, docker.io';

import { jobs } from '../server/db/schema';
import type { Actor } from '../server/domain/actor';
import { cancelJob, killJob, submitJob } from '../server/domain/jobs';
import { reconcile } from '../server/worker/completion';
import { dispatchOnce } from '../server/worker/dispatcher';
import { inflightStarts } from '../server/worker/start';
import { dockerAvailable } from './helpers/docker';
import { makeUser } from './helpers/fixtures';
import { makeRig, TEST_IMAGE, waitFor, type Rig } from './helpers/sweepers';

/**
 * A registry that trickles: a real HTTP server on 127.0.0.1 (Docker pulls from 127.0.0.0/8 over
 * plain HTTP) that answers GET /v2/ with {} and then sends a manifest one byte every 2 s, so the
 * real engine's pull hangs. The real dispatcher must not wait for it: other users' jobs start
 * while it hangs, reconcile leaves the pulling start alone, and at the pull deadline the job fails
 * naming its image. A registry that answers "not found" fails the job at once, naming it too.
 */

// Long enough that the steps before the deadline (starting two other jobs on a busy box) finish first.
const PULL_TIMEOUT_MS = 20_000;

describe.skipIf(!dockerAvailable())('image pulls from a trickling registry (real Docker)', () => {
  let rig: Rig;
  let server: http.Server;
  let port: number;
  const seen: string[] = [];
  let open = 0;

  beforeAll(async () => {
    rig = await makeRig({ plan: { maxConcurrentJobs: 5 } });
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const v2 = { 'docker-distribution-api-version': 'registry/2.0' };
      if (req.url === '/v2/' || req.url === '/v2') {
        res.writeHead(200, { ...v2, 'content-type': 'application/json' });
        return res.end('{}');
      }
      if (req.url?.startsWith('/v2/html/')) {
        // A service that is not a registry: its HTML page must never reach the job's reason.
        res.writeHead(404, { 'content-type': 'text/html' });
        return res.end(`<html><body>${'SECRET-PAGE '.repeat(900)}</body></html>`);
      }
      if ((req.url?.startsWith('/v2/hang/') || req.url?.startsWith('/v2/stuck/')) && req.url.includes('/manifests/')) {
        // HEAD cannot trickle; refusing it makes the engine fall back to GET.
        if (req.method === 'HEAD') {
          res.writeHead(405, v2);
          return res.end();
        }
        res.writeHead(200, { ...v2, 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'content-length': '100000' });
        open++;
        const t = setInterval(() => res.write('{'), 2_000);
        req.on('close', () => {
          clearInterval(t);
          open--;
        });
        return;
      }
      res.writeHead(404, { ...v2, 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await inflightStarts.settled();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await rig?.close();
  });

  const opts = { start: { pullTimeoutMs: PULL_TIMEOUT_MS } };

  it("a hung pull holds up nobody: others' jobs start, reconcile leaves it, and at the deadline it fails naming its image", async () => {
    const image = `127.0.0.1:${port}/hang/img:1`;
    const other = await makeUser(rig.ctx, { plan: { name: 'sweep' } });
    const third = await makeUser(rig.ctx, { plan: { name: 'sweep' } });
    const hung = await submitJob(rig.ctx, rig.user.actor, { image, command: ['true'] });
    const sameImage = await submitJob(rig.ctx, third.actor, { image, command: ['true'] });
    const quick = await submitJob(rig.ctx, other.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 30'] });

    // One round claims all three; the tick returns with the pulls still in flight.
    const r = await dispatchOnce(rig.ctx, opts);
    expect(r).toMatchObject({ claimed: 3, started: 1, pulling: 2, failed: 0 });
    await waitFor(() => seen.some((s) => s.startsWith('GET /v2/hang/img/manifests/1')) && open > 0, { what: 'the engine to be stuck on the manifest' });
    expect(await rig.job(quick.id)).toMatchObject({ status: 'running' });
    for (const id of [hung.id, sameImage.id]) {
      expect(await rig.job(id)).toMatchObject({ status: 'starting', waitCode: 'pulling_image', waitReason: `Pulling image ${image}`, containerId: null });
    }

    // More work from other users keeps starting while the pull hangs.
    const later = await submitJob(rig.ctx, other.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 30'] });
    expect(await dispatchOnce(rig.ctx, opts)).toMatchObject({ claimed: 1, started: 1 });
    expect((await rig.job(later.id)).status).toBe('running');
    expect(open).toBeGreaterThan(0); // still hanging

    // Reconcile never requeues a start that is in flight here, however old its claim.
    expect(await reconcile(rig.ctx, rig.docker, { startingStaleMs: 0 })).toMatchObject({ requeued: 0, adopted: 0 });
    expect((await rig.job(hung.id)).status).toBe('starting');

    // At the deadline both jobs waiting on that image fail, naming it; nothing was created.
    await waitFor(async () => (await rig.job(hung.id)).status === 'failed' && (await rig.job(sameImage.id)).status === 'failed', { timeoutMs: 60_000, what: 'the pull deadline' });
    for (const id of [hung.id, sameImage.id]) {
      const j = await rig.job(id);
      expect(j.reason).toBe(`image ${image} could not be pulled: the pull did not finish within ${PULL_TIMEOUT_MS / 1000} s (WARDEN_PULL_TIMEOUT_S)`);
      expect(j).toMatchObject({ containerId: null, waitCode: null, waitReason: null });
      expect((await rig.audits(id, 'job.start_failed'))[0]!.details).toMatchObject({ image });
      expect(await rig.docker.list({ 'warden.job': id })).toEqual([]);
    }
  });

  it('a registry that says "not found" fails the job at once, naming the image', async () => {
    const image = `127.0.0.1:${port}/missing/img:2`;
    const j = await submitJob(rig.ctx, rig.user.actor, { image, command: ['true'] });
    expect(await dispatchOnce(rig.ctx, opts)).toMatchObject({ claimed: 1, pulling: 1 });
    await waitFor(async () => (await rig.job(j.id)).status === 'failed', { what: 'the failed pull' });
    const row = await rig.job(j.id);
    expect(row.reason).toBe(`image ${image} could not be pulled: the registry has no such image (not found)`);
    // Not found does not pass by waiting: one try, no retries.
    expect(await rig.audits(j.id, 'job.pull_retry')).toEqual([]);
  });

  /** Fast retries, so the tests wait for the tries, not for the production backoff (PULL_BACKOFF). */
  const fast = { start: { pullTimeoutMs: PULL_TIMEOUT_MS, pullRetry: { tries: 3, curve: { baseMs: 100, maxMs: 200 } } } };

  /** Drives the dispatcher until the job is final (a requeued job would be claimed again and again). */
  async function driveToFinal(id: string, timeoutMs = 45_000) {
    return waitFor(async () => {
      await dispatchOnce(rig.ctx, fast);
      const j = await rig.job(id);
      return ['failed', 'cancelled', 'killed', 'succeeded'].includes(j.status) ? j : null;
    }, { timeoutMs, intervalMs: 50, what: `job ${id} to end` });
  }

  it('a registry that refuses the connection is not "the engine is down": 3 tries, then failed with a short reason; audit rows bounded', async () => {
    const image = '127.0.0.1:1/x:1';
    const j = await submitJob(rig.ctx, rig.user.actor, { image, command: ['true'] });
    const row = await driveToFinal(j.id);
    expect(row).toMatchObject({ status: 'failed', containerId: null, waitCode: null });
    expect(row.reason).toBe('image 127.0.0.1:1/x:1 could not be pulled: the registry refused the connection');
    const all = await rig.audits(j.id);
    const actions = all.map((a) => a.action);
    // One claim, one row per failed try, one end: never a claim/requeue loop.
    expect(actions.filter((a) => a === 'job.claim')).toHaveLength(1);
    expect(actions.filter((a) => a === 'job.requeue')).toEqual([]);
    expect(actions.filter((a) => a === 'job.pull_retry')).toHaveLength(2);
    expect(actions.filter((a) => a === 'job.start_failed')).toHaveLength(1);
    expect(all.length).toBeLessThanOrEqual(5);
    const retry = (await rig.audits(j.id, 'job.pull_retry'))[0]!;
    expect(retry.details).toMatchObject({ image, failure: 'refused', try: 1, tries: 3 });
    expect(await rig.docker.list({ 'warden.job': j.id })).toEqual([]);
  });

  it('a loopback service that is not a registry: the reason says HTTP 404, is at most 300 characters and carries none of its page', async () => {
    const image = `127.0.0.1:${port}/html/page:1`;
    const j = await submitJob(rig.ctx, rig.user.actor, { image, command: ['true'] });
    const row = await driveToFinal(j.id);
    expect(row.status).toBe('failed');
    expect(row.reason).toBe(`image ${image} could not be pulled: the registry answered HTTP 404 with something that is not a registry's answer`);
    expect(row.reason!.length).toBeLessThanOrEqual(300);
    for (const a of await rig.audits(j.id)) {
      expect(`${a.reason ?? ''} ${a.error ?? ''} ${JSON.stringify(a.details)}`).not.toMatch(/SECRET|<html/);
    }
    expect(seen.some((s) => s.startsWith('GET /v2/html/page/manifests/1'))).toBe(true);
  });

  it('a registry the allowlist leaves out is refused again just before the pull: the job fails naming it and the setting, nothing is pulled', async () => {
    // Written past submit (as a job queued before the setting changed would be).
    const image = '10.0.0.1:5000/x:1';
    const [j] = await rig.db
      .insert(jobs)
      .values({ userId: rig.user.id, image, status: 'queued', maxRetries: 0, timeoutS: 60, timeoutSource: 'job', gracePeriodS: 1, queuedAt: rig.ctx.clock.now() })
      .returning();
    const row = await driveToFinal(j!.id);
    expect(row.status).toBe('failed');
    expect(row.reason).toBe('image 10.0.0.1:5000/x:1 could not be pulled: registry 10.0.0.1:5000 is not in WARDEN_REGISTRIES, the registries this Warden pulls from');
    expect((await rig.audits(j!.id, 'job.start_failed'))[0]!.details).toMatchObject({ failure: 'policy' });
    expect(await rig.audits(j!.id, 'job.pull_retry')).toEqual([]);
  });

  it('a cancel of a job whose pull hangs wins at once (cancelled), a forced kill too (killed); the pull ending later changes nothing', async () => {
    const image = `127.0.0.1:${port}/stuck/img:3`;
    const other = await makeUser(rig.ctx, { plan: { name: 'sweep' } });
    const a = await submitJob(rig.ctx, rig.user.actor, { image, command: ['true'] });
    const b = await submitJob(rig.ctx, other.actor, { image, command: ['true'] });
    expect(await dispatchOnce(rig.ctx, fast)).toMatchObject({ claimed: 2, pulling: 2 });
    await waitFor(() => seen.some((x) => x.startsWith('GET /v2/stuck/img/manifests/3')) && open > 0, { what: 'the engine to be stuck on the manifest' });
    expect((await rig.job(a.id)).status).toBe('starting');

    const cancelled = await cancelJob(rig.ctx, rig.user.actor, a.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', containerId: null });
    expect(cancelled.reason).toMatch(/^Cancelled by /);
    const op: Actor = { kind: 'operator', id: crypto.randomUUID(), email: 'op@test', role: 'operator' };
    const killed = await killJob(rig.ctx, op, b.id, { force: true, reason: 'stuck' });
    expect(killed).toMatchObject({ status: 'killed', containerId: null, reason: 'Killed by operator:op@test: stuck' });

    // The pull reaches its deadline; the starts find their jobs ended and make nothing.
    await inflightStarts.settled();
    expect(await rig.job(a.id)).toMatchObject({ status: 'cancelled' });
    expect(await rig.job(b.id)).toMatchObject({ status: 'killed' });
    for (const id of [a.id, b.id]) {
      expect(await rig.docker.list({ 'warden.job': id })).toEqual([]);
      expect((await rig.audits(id)).length).toBeLessThanOrEqual(4);
    }
  });

  it('an image whose own labels fall under a reserved prefix is refused before create: failed, the reason names the label, no container', async () => {
    const image = `warden-test/labelled-${crypto.randomBytes(4).toString('hex')}:1`;
    execFileSync('bash', [path.join(__dirname, 'fixtures/build-busybox-image.sh'), image, 'LABEL traefik.enable=true', 'LABEL org.opencontainers.image.title=fine'], { stdio: 'ignore' });
    try {
      const j = await submitJob(rig.ctx, rig.user.actor, { image, command: ['true'] });
      const row = await driveToFinal(j.id);
      expect(row).toMatchObject({ status: 'failed', containerId: null });
      expect(row.reason).toContain(`image ${image} carries the label traefik.enable`);
      expect(await rig.docker.list({ 'warden.job': j.id })).toEqual([]);
      // The plain image next to it still runs.
      expect((await rig.start(['sleep', '30'])).status).toBe('running');
    } finally {
      execFileSync('docker', ['rmi', '-f', image], { stdio: 'ignore' });
    }
  });
});
