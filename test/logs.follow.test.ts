import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobs } from '../server/db/schema';
import { FollowSlots } from '../server/domain/log-follows';
import { followJobLogs } from '../server/domain/jobs';
import { createDockerRuntime } from '../server/docker/runtime';
import { setupApi, type ApiHarness, type Handler } from './helpers/api';
import { TEST_IMAGE } from './helpers/docker';
import { waitFor } from './helpers/fixtures';

/**
 * `GET /api/v1/jobs/:id/logs?follow=true` through its route handler, on a real engine and a real
 * database: each follow holds an engine socket, so one user gets 4 at once and the server
 * WARDEN_MAX_LOG_FOLLOWS; past that a 429 with Retry-After, and a slot comes back when its
 * reader goes away.
 */

const RUN = crypto.randomBytes(4).toString('hex');
const rt = createDockerRuntime();
let h: ApiHarness;
let logsRoute: { GET: Handler };
let containerId = '';
let jobId = '';
let userKey = '';
let otherKey = '';
let otherJob = '';

async function newUser(name: string): Promise<{ id: string; key: string }> {
  const usersRoute = (await import('../app/api/v1/users/route')) as unknown as { POST: Handler };
  const body = JSON.stringify({ name: `${name}-${RUN}`, plan: 'free' });
  const r = await usersRoute.POST(new Request('http://localhost/api/v1/users', { method: 'POST', headers: { authorization: `Bearer ${h.admin}`, 'content-type': 'application/json' }, body }), { params: Promise.resolve({}) });
  const j = (await r.json()) as { id: string; apiKey: string };
  return { id: j.id, key: j.apiKey };
}

async function runningJob(userId: string): Promise<string> {
  const [j] = await h.db
    .insert(jobs)
    .values({ userId, image: TEST_IMAGE, command: ['sh'], status: 'running', containerId, maxRetries: 0, timeoutS: 300, timeoutSource: 'global', gracePeriodS: 1, queuedAt: new Date(), startedAt: new Date(), updatedAt: new Date() })
    .returning();
  return j!.id;
}

/** Opens a follow; the caller keeps the response (a live stream) and the abort of its request. */
async function follow(key: string, id: string) {
  const ac = new AbortController();
  const req = new Request(`http://localhost/api/v1/jobs/${id}/logs?follow=true`, { headers: { authorization: `Bearer ${key}` }, signal: ac.signal });
  const res = await logsRoute.GET(req, { params: Promise.resolve({ id }) });
  return { res, abort: () => ac.abort() };
}

/** Reads the stream until it shows `what`. */
async function readUntil(res: Response, what: string): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const reader = res.body!.getReader();
  let seen = '';
  while (!seen.includes(what)) {
    const c = await reader.read();
    if (c.done) throw new Error(`stream ended before "${what}": ${seen.slice(-200)}`);
    seen += Buffer.from(c.value).toString('utf8');
  }
  return reader;
}

beforeAll(async () => {
  h = await setupApi({ DOCKER_HOST: 'unix:///var/run/docker.sock', WARDEN_WORKER: 'off' });
  logsRoute = (await import('../app/api/v1/jobs/[id]/logs/route')) as unknown as typeof logsRoute;
  containerId = await rt.run({ image: TEST_IMAGE, command: ['sh', '-c', 'echo ready; while true; do echo tick; sleep 1; done'], labels: { 'warden.test': RUN }, network: 'none' });
  const u = await newUser('follower');
  userKey = u.key;
  jobId = await runningJob(u.id);
  const o = await newUser('other');
  otherKey = o.key;
  otherJob = await runningJob(o.id);
}, 120_000);

afterAll(async () => {
  if (containerId) await rt.remove(containerId).catch(() => {});
  await h?.close();
});

describe('log follows are capped', () => {
  it("a user's 5th follow is a 429 with Retry-After; another user is not affected; closing one frees a slot", async () => {
    const open = [];
    for (let i = 0; i < 4; i++) {
      const f = await follow(userKey, jobId);
      expect(f.res.status).toBe(200);
      open.push({ ...f, reader: await readUntil(f.res, 'ready') });
    }
    const fifth = await follow(userKey, jobId);
    expect(fifth.res.status).toBe(429);
    expect(Number(fifth.res.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await fifth.res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('too_many_follows');
    expect(body.error.message).toMatch(/4 log streams/);

    // Another user still may.
    const other = await follow(otherKey, otherJob);
    expect(other.res.status).toBe(200);
    await readUntil(other.res, 'ready');

    // The client of one goes away: its slot comes back (when the stream has closed).
    open[0]!.abort();
    const again = await waitFor(
      async () => {
        const f = await follow(userKey, jobId);
        if (f.res.status === 200) return f;
        await f.res.body?.cancel();
        return null;
      },
      { what: 'a follow to be accepted after one closed', timeoutMs: 20_000 },
    );
    await readUntil(again.res, 'ready');
    // Cancelling the body (a reader that stops reading) frees a slot too.
    await open[1]!.reader.cancel();
    const third = await waitFor(
      async () => {
        const f = await follow(userKey, jobId);
        if (f.res.status === 200) return f;
        await f.res.body?.cancel();
        return null;
      },
      { what: 'a follow after a cancelled one', timeoutMs: 20_000 },
    );
    for (const f of [...open.slice(2), other, again, third]) f.abort();
  });

  it('the server-wide cap (WARDEN_MAX_LOG_FOLLOWS) refuses past it, with Retry-After', async () => {
    const slots = new FollowSlots(2);
    const ctx = h.ctx;
    const asUser = (id: string) => ({ kind: 'user' as const, id, name: id });
    const [u1] = await h.db.select({ userId: jobs.userId }).from(jobs).where((await import('drizzle-orm')).eq(jobs.id, jobId));
    const [u2] = await h.db.select({ userId: jobs.userId }).from(jobs).where((await import('drizzle-orm')).eq(jobs.id, otherJob));
    const a = await followJobLogs(ctx, asUser(u1!.userId), jobId, slots);
    const b = await followJobLogs(ctx, asUser(u2!.userId), otherJob, slots);
    expect('stream' in a && 'stream' in b).toBe(true);
    await expect(followJobLogs(ctx, asUser(u2!.userId), otherJob, slots)).rejects.toMatchObject({ status: 429, code: 'too_many_follows', retryAfterS: expect.any(Number), message: expect.stringMatching(/WARDEN_MAX_LOG_FOLLOWS/) });
    (a as { stream: NodeJS.ReadableStream & { destroy(): void } }).stream.destroy();
    await waitFor(() => slots.count() === 1, { what: 'the slot to be freed' });
    const c = await followJobLogs(ctx, asUser(u2!.userId), otherJob, slots);
    expect('stream' in c).toBe(true);
    for (const s of [b, c]) (s as { stream: NodeJS.ReadableStream & { destroy(): void } }).stream.destroy();
    await waitFor(() => slots.count() === 0, { what: 'every slot freed' });
  });
});
