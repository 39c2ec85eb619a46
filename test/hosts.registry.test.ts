import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../server/domain/jobs';
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

const PULL_TIMEOUT_MS = 8_000;

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
      if (req.url?.startsWith('/v2/hang/') && req.url.includes('/manifests/')) {
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
      expect(j.reason).toBe(`Image unavailable: Image "${image}" is not available locally and could not be pulled: the pull did not finish within ${PULL_TIMEOUT_MS / 1000} s (WARDEN_PULL_TIMEOUT_S)`);
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
    expect(row.reason).toContain(`Image unavailable: Image "${image}"`);
    expect(row.reason).toMatch(/not found|manifest unknown/i);
  });
});
