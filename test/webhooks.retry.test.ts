import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../server/clock';
import type { Ctx } from '../server/context';
import { jobs, webhookDeliveries, webhooks, type Job } from '../server/db/schema';
import type { Actor } from '../server/domain/actor';
import { cancelJob, killJob, submitJob } from '../server/domain/jobs';
import { finishWithoutContainer } from '../server/domain/termination';
import { createWebhook, listDeliveries, redeliver } from '../server/domain/webhooks';
import { DELIVERY_TIMEOUT_MS, deliverDue, LEASE_MS, startWebhookDelivery } from '../server/worker/webhooks';
import { audit } from '../server/domain/audit';
import { createTestDatabase } from './helpers/db';
import { makeCtx, makeUser, OPERATOR, waitFor } from './helpers/fixtures';
import { startReceiver, verifySignature, type Receiver } from './helpers/receiver';

/**
 * Delivery against a real HTTP receiver on 127.0.0.1 and a real PostgreSQL: retries after a 500,
 * a timeout, giving up after 24 h, redelivery, per-job order, the address guard at delivery
 * time, and a worker process SIGKILLed mid-delivery whose successor delivers it (same id).
 * Time is a fake clock (backoff without waiting), except in the worker-process test.
 */

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let ctx: Ctx & { clock: FakeClock };
let rx: Receiver;
let user: { actor: Actor; id: string };
const opts = { allowPrivate: true };

beforeAll(async () => {
  tdb = await createTestDatabase();
  ctx = (await makeCtx(tdb.db, { clock: new FakeClock(Date.now()), node: `whr-${crypto.randomBytes(4).toString('hex')}` })) as Ctx & { clock: FakeClock };
  const u = await makeUser(ctx, { plan: { name: 'hooks', maxConcurrentJobs: 5 } });
  user = { actor: u.actor, id: u.user.id };
  rx = await startReceiver();
});
afterEach(async () => {
  // Each test's subscriptions (and their deliveries) go, so nothing is left for the next one.
  await tdb.db.delete(webhooks);
  rx.handler = () => 200;
  rx.received.length = 0;
});
afterAll(async () => {
  await rx?.close();
  await tdb?.drop();
});

async function subscribe(p = '/hook', o: { events?: string[]; actor?: Actor } = {}) {
  return createWebhook(ctx, o.actor ?? user.actor, { url: rx.url(p), ...(o.events ? { events: o.events } : {}) }, { allowPrivate: true });
}
/** A queued job cancelled by its owner: one job.cancelled event. */
async function cancelledJob(): Promise<Job> {
  const j = await submitJob(ctx, user.actor, { image: 'warden-test/busybox:latest', command: ['true'] });
  return cancelJob(ctx, user.actor, j.id);
}
async function delivery(webhookId: string) {
  const rows = await tdb.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhookId));
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

describe('retries', () => {
  it('a receiver that answers 500 twice gets the event a third time: same id, same body, each signed', async () => {
    const { webhook, secret } = await subscribe();
    const job = await cancelledJob();
    const seen = new Map<string, number>();
    rx.handler = (r) => {
      const id = r.headers['warden-delivery'] as string;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      return seen.get(id)! <= 2 ? 500 : 200;
    };
    const t0 = ctx.clock.now().getTime();

    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 1, retried: 1, delivered: 0 });
    let d = await delivery(webhook.id);
    expect(d).toMatchObject({ status: 'pending', attempts: 1, lastStatus: 500, lastError: 'HTTP 500: receiver says 500' });
    // 5 s ± 20 % jitter.
    expect(d.nextAttemptAt.getTime() - t0).toBeGreaterThanOrEqual(4000);
    expect(d.nextAttemptAt.getTime() - t0).toBeLessThanOrEqual(6000);
    // Not due yet: nothing is sent.
    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 0 });
    expect(rx.received).toHaveLength(1);

    ctx.clock.set(d.nextAttemptAt.getTime());
    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 1, retried: 1 });
    d = await delivery(webhook.id);
    expect(d).toMatchObject({ status: 'pending', attempts: 2, lastStatus: 500 });
    // The second wait doubles: 10 s ± 20 %.
    expect(d.nextAttemptAt.getTime() - ctx.clock.now().getTime()).toBeGreaterThanOrEqual(8000);
    expect(d.nextAttemptAt.getTime() - ctx.clock.now().getTime()).toBeLessThanOrEqual(12000);

    ctx.clock.set(d.nextAttemptAt.getTime());
    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 1, delivered: 1 });
    d = await delivery(webhook.id);
    expect(d).toMatchObject({ status: 'delivered', attempts: 3, lastStatus: 200, lastError: null });
    expect(d.deliveredAt).toEqual(ctx.clock.now());

    expect(rx.received).toHaveLength(3);
    const ids = new Set(rx.received.map((r) => r.headers['warden-delivery']));
    expect([...ids]).toEqual([d.id]);
    expect(new Set(rx.received.map((r) => r.raw)).size).toBe(1);
    for (const r of rx.received) {
      verifySignature(secret, r.headers['warden-signature'], r.raw);
      expect(r.headers['warden-event']).toBe('job.cancelled');
      expect(r.headers['content-type']).toBe('application/json');
    }
    const body = rx.received[0]!.body;
    expect(Object.keys(body).slice(0, 4)).toEqual(['id', 'type', 'at', 'job']);
    expect(body).toMatchObject({ type: 'job.cancelled', job: { id: job.id, status: 'cancelled', userId: user.id } });
    expect(body.job).not.toHaveProperty('env');
    // A receiver that dedupes on the delivery id saw the event once.
    expect(seen.size).toBe(1);
  });

  it('no answer within the timeout is a failed attempt, retried (the worker waits 10 s; here 0.3 s)', async () => {
    expect(DELIVERY_TIMEOUT_MS).toBe(10_000);
    expect(LEASE_MS).toBeGreaterThan(DELIVERY_TIMEOUT_MS);
    const { webhook } = await subscribe();
    await cancelledJob();
    rx.handler = () => 'hang';
    expect(await deliverDue(ctx, { ...opts, timeoutMs: 300 })).toMatchObject({ claimed: 1, retried: 1 });
    expect(await delivery(webhook.id)).toMatchObject({ status: 'pending', attempts: 1, lastStatus: null, lastError: 'no answer within 0.3s' });
  });

  it('gives up 24 h after the event (failed, with the last error); a redelivery sends it again under the same id', async () => {
    const { webhook } = await subscribe();
    await cancelledJob();
    rx.handler = () => 503;
    await deliverDue(ctx, opts);
    const first = await delivery(webhook.id);
    expect(first.giveUpAt.getTime() - first.createdAt.getTime()).toBe(24 * 3600_000);
    ctx.clock.set(first.giveUpAt.getTime() - 1000);
    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 1, failed: 1 });
    const d = await delivery(webhook.id);
    expect(d).toMatchObject({ status: 'failed', attempts: 2, lastStatus: 503, lastError: 'HTTP 503: receiver says 503' });
    const listed = await listDeliveries(ctx, user.actor, webhook.id);
    expect(listed.deliveries[0]).toMatchObject({ id: d.id, event: 'job.cancelled', status: 'failed', attempts: 2, lastError: 'HTTP 503: receiver says 503', nextAttemptAt: null, deliveredAt: null });
    // Failed stays failed: nothing more is sent.
    ctx.clock.advance(3600_000);
    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 0 });

    rx.handler = () => 204;
    await redeliver(ctx, OPERATOR, d.id);
    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 1, delivered: 1 });
    expect(await delivery(webhook.id)).toMatchObject({ status: 'delivered', attempts: 3, lastStatus: 204 });
    expect(new Set(rx.received.map((r) => r.headers['warden-delivery']))).toEqual(new Set([d.id]));
  });

  it("a later event of a job is not held behind an earlier one's retries; bodies carry the job's sequence", async () => {
    const { webhook } = await subscribe();
    // A running job: container.start → job.started, job.warn → job.warning, kill → job.terminating, finish → job.killed.
    const now = ctx.clock.now();
    const deadline = new Date(now.getTime() + 60_000);
    const [j] = await tdb.db
      .insert(jobs)
      .values({ userId: user.id, image: 'x', maxRetries: 0, timeoutS: 60, timeoutSource: 'job', gracePeriodS: 1, status: 'running', queuedAt: now, startedAt: now, deadlineAt: deadline, updatedAt: now })
      .returning();
    await audit(tdb.db, { actor: 'dispatcher', action: 'container.start', targetType: 'job', targetId: j!.id, at: now, details: {} });
    // The receiver fails job.started, every time: its retries must not hold the warning back.
    rx.handler = (r) => (r.body.type === 'job.started' ? 500 : 200);
    expect(await deliverDue(ctx, { ...opts, maxRounds: 1 })).toMatchObject({ claimed: 1, retried: 1 });
    await audit(tdb.db, { actor: 'sweeper:timeout', action: 'job.warn', targetType: 'job', targetId: j!.id, at: ctx.clock.now(), details: { deadlineAt: deadline.toISOString() } });
    // Before job.started's next attempt is due, the warning goes out.
    expect(await deliverDue(ctx, opts)).toMatchObject({ claimed: 1, delivered: 1 });
    expect(rx.received.map((r) => [r.body.type, r.body.sequence])).toEqual([
      ['job.started', 1],
      ['job.warning', 2],
    ]);
    await killJob(ctx, OPERATOR, j!.id, { reason: 'test' });
    await finishWithoutContainer({ ctx, actor: 'sweeper:timeout' }, j!, 'test');
    // Another job's events are numbered on their own.
    const other = await cancelledJob();
    await deliverDue(ctx, opts);
    rx.handler = () => 200;
    ctx.clock.advance(10_000);
    await deliverDue(ctx, opts);
    const forJob = rx.received.filter((r) => r.body.job.id === j!.id && r.body.type !== 'job.started').map((r) => [r.body.type, r.body.sequence]);
    expect(forJob).toEqual([
      ['job.warning', 2],
      ['job.terminating', 3],
      ['job.killed', 4],
    ]);
    // job.started, retried until it went through: same sequence every time.
    expect(new Set(rx.received.filter((r) => r.body.type === 'job.started').map((r) => r.body.sequence))).toEqual(new Set([1]));
    expect(rx.received.find((r) => r.body.job.id === other.id)?.body.sequence).toBe(1);
    const all = await tdb.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhook.id));
    expect(all.every((d) => d.status === 'delivered')).toBe(true);
    const killed = rx.received.find((r) => r.body.type === 'job.killed')!.body;
    expect(killed.job).toMatchObject({ status: 'killed' });
    const term = rx.received.find((r) => r.body.type === 'job.terminating')!.body;
    expect(term).toMatchObject({ kind: 'kill', job: { status: 'terminating' } });
  });
});

describe('fair sends across owners', () => {
  it('one user with 25 hooks at endpoints that never answer holds at most 4 send slots; another user is delivered meanwhile', async () => {
    const slow = await startReceiver();
    slow.handler = () => 'hang';
    const hog = await makeUser(ctx, { plan: { name: 'hooks' } });
    const hogActor = hog.actor;
    for (let i = 0; i < 25; i++) await createWebhook(ctx, hogActor, { url: slow.url(`/slow/${i}`), events: ['job.cancelled'] }, { allowPrivate: true });
    const j = await submitJob(ctx, hogActor, { image: 'warden-test/busybox:latest', command: ['true'] });
    await cancelJob(ctx, hogActor, j.id);
    // The other user's event comes after all 25 (the old global FIFO sent 16 of the hog's first).
    await subscribe('/fast', { events: ['job.cancelled'] });
    const mine = await cancelledJob();
    const loop = startWebhookDelivery(ctx, { ...opts, timeoutMs: 120_000, maxInFlight: 16 });
    try {
      await loop.tick();
      await waitFor(() => rx.received.some((r) => r.body.job.id === mine.id), { what: "the other user's delivery", timeoutMs: 20_000 });
      await waitFor(() => slow.received.length >= 4, { what: "the hog's first sends" });
      await loop.tick();
      // Exactly 4 of the hog's 25 are out (leased), the rest wait their turn.
      const leased = await tdb.db.execute<{ n: number }>(sql`
        select count(*)::int as n from webhook_deliveries d join webhooks w on w.id = d.webhook_id
        where w.owner_user_id = ${hog.user.id} and d.lease_until > ${ctx.clock.now().toISOString()}::timestamptz`);
      expect(Number(leased[0]!.n)).toBe(4);
      expect(slow.received).toHaveLength(4);
    } finally {
      await slow.close();
      await loop.stop();
    }
  });
});

describe('the address guard at delivery time', () => {
  it('refuses loopback targets when private addresses are not allowed, by IP literal and by name (DNS re-checked)', async () => {
    // Created while allowed; then the process runs without the setting (or the name now resolves
    // to 127.0.0.1: DNS rebinding). Nothing reaches the receiver.
    const a = await subscribe('/literal');
    const port = new URL(rx.url()).port;
    const b = await createWebhook(ctx, user.actor, { url: `http://localhost:${port}/by-name` }, { allowPrivate: true });
    await cancelledJob();
    expect(await deliverDue(ctx, { allowPrivate: false })).toMatchObject({ claimed: 2, retried: 2 });
    expect(rx.received).toHaveLength(0);
    expect((await delivery(a.webhook.id)).lastError).toMatch(/^refused: 127\.0\.0\.1 is a loopback, link-local, private or reserved address/);
    expect((await delivery(b.webhook.id)).lastError).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1), which webhooks may not reach/);
    // Allowed again: both go through (the name through the same guarded lookup).
    ctx.clock.advance(10_000);
    expect(await deliverDue(ctx, { allowPrivate: true })).toMatchObject({ claimed: 2, delivered: 2 });
    expect(rx.received.map((r) => r.path).sort()).toEqual(['/by-name', '/literal']);
  });
});

describe('a worker process SIGKILLed with a delivery pending', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-whk-'));
  const procs: ChildProcess[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function startWorker(out: string[]): ChildProcess {
    const env: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV' && k !== 'TEST') env[k] = v;
    Object.assign(env, {
      DATABASE_URL: tdb.url,
      WARDEN_NODE_ID: ctx.node,
      WARDEN_DATA_DIR: dataDir,
      WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on',
      WARDEN_ADMIN_EMAIL: 'admin@webhooks.test',
      WARDEN_ADMIN_PASSWORD: 'webhooks-password',
      LOG_LEVEL: 'warn',
    });
    const p = spawn(process.execPath, ['bin/worker.mjs'], { cwd: process.cwd(), env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    p.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
    procs.push(p);
    return p;
  }

  it('delivers it after a restart, under the same delivery id (a deduping receiver sees it once)', async () => {
    // The worker uses the real clock: the event is stamped with it too.
    const real = { ...ctx, clock: { now: () => new Date() } };
    const { webhook, secret } = await createWebhook(real, user.actor, { url: rx.url('/restart') }, { allowPrivate: true });
    const j = await submitJob(real, user.actor, { image: 'warden-test/busybox:latest', command: ['true'] });
    await cancelJob(real, user.actor, j.id);
    rx.handler = () => 'hang';
    const out: string[] = [];
    const w1 = startWorker(out);
    try {
      await waitFor(() => rx.received.length === 1, { timeoutMs: 60_000, what: 'the first worker to send the delivery' });
    } catch (e) {
      throw new Error(`${String(e)}\n${out.join('').slice(-3000)}`);
    }
    // Killed mid-send: no outcome recorded, the lease still held.
    const gone = new Promise((r) => w1.once('exit', r));
    w1.kill('SIGKILL');
    await gone;
    const pending = await delivery(webhook.id);
    expect(pending).toMatchObject({ status: 'pending', attempts: 1, deliveredAt: null });
    expect(pending.leaseUntil!.getTime()).toBeGreaterThan(Date.now() - 1000);

    rx.handler = () => 200;
    const w2 = startWorker(out);
    try {
      await waitFor(async () => (await delivery(webhook.id)).status === 'delivered', { timeoutMs: 90_000, intervalMs: 250, what: 'the restarted worker to deliver it' });
    } catch (e) {
      throw new Error(`${String(e)}\n${out.join('').slice(-3000)}`);
    }
    const done = await delivery(webhook.id);
    expect(done).toMatchObject({ status: 'delivered', attempts: 2, lastStatus: 200 });
    // Resent only after the dead worker's lease ran out.
    expect(rx.received[1]!.at).toBeGreaterThanOrEqual(pending.leaseUntil!.getTime() - 1000);
    expect(rx.received).toHaveLength(2);
    expect(rx.received.map((r) => r.headers['warden-delivery'])).toEqual([done.id, done.id]);
    for (const r of rx.received) verifySignature(secret, r.headers['warden-signature'], r.raw);
    const dedup = new Set(rx.received.map((r) => r.headers['warden-delivery']));
    expect(dedup.size).toBe(1);
    w2.kill('SIGTERM');
    await new Promise((r) => w2.once('exit', r));
  }, 180_000);
});
