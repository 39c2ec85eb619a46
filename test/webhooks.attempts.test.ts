import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, webhookAttempts, webhookDeliveries, webhooks } from '../server/db/schema';
import { trimWebhookAttempts } from '../server/domain/webhooks';
import { deliverDue } from '../server/worker/webhooks';
import { call, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';
import { startReceiver, verifySignature, type Receiver } from './helpers/receiver';

/**
 * Test pings and kept delivery attempts through the real route handlers, a real PostgreSQL and a
 * real HTTP receiver on 127.0.0.1 (WARDEN_WEBHOOK_ALLOW_PRIVATE=on for that). The worker's
 * delivery pass (deliverDue) sends what is due; a retry's backoff is made due by moving its
 * next_attempt_at, so nothing waits on a clock.
 */

let h: ApiHarness;
let rx: Receiver;
const R: Record<string, Record<string, Handler>> = {};
type U = { id: string; key: string; name: string };
let alice: U;
let bob: U;
const send = () => deliverDue(h.ctx, { allowPrivate: true });

async function newUser(): Promise<U> {
  const name = `u-${crypto.randomBytes(4).toString('hex')}`;
  const r = await call(R.users!.POST!, 'POST', '/api/v1/users', { key: h.admin, body: { name, plan: 'free' } });
  expect(r.status).toBe(201);
  return { id: r.json.id, key: r.json.apiKey, name };
}
async function subscribe(key: string, url = rx.url()) {
  const r = await call(R.webhooks!.POST!, 'POST', '/api/v1/webhooks', { key, body: { url } });
  expect(r.status, r.text).toBe(201);
  return { id: r.json.id as string, secret: r.json.secret as string };
}
const ping = (key: string, id: string) => call(R.ping!.POST!, 'POST', `/api/v1/webhooks/${id}/ping`, { key, params: { id } });
const attempts = (key: string, id: string, q = '') =>
  call(R.attempts!.GET!, 'GET', `/api/v1/webhooks/${id}/attempts${q}`, { key, params: { id } });
/** The pending retry of a webhook's delivery is due now (its backoff has passed). */
async function makeDue(webhookId: string) {
  await h.db.update(webhookDeliveries).set({ nextAttemptAt: sql`now() - interval '1 second'` }).where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.status, 'pending')));
}

beforeAll(async () => {
  h = await setupApi({ WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on' });
  R.users = (await import('../app/api/v1/users/route')) as never;
  R.webhooks = (await import('../app/api/v1/webhooks/route')) as never;
  R.deliveries = (await import('../app/api/v1/webhooks/[id]/deliveries/route')) as never;
  R.ping = (await import('../app/api/v1/webhooks/[id]/ping/route')) as never;
  R.attempts = (await import('../app/api/v1/webhooks/[id]/attempts/route')) as never;
  alice = await newUser();
  bob = await newUser();
  rx = await startReceiver();
});
afterEach(async () => {
  await h.db.delete(webhooks);
  rx.handler = () => 200;
  rx.received.length = 0;
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

describe('POST /api/v1/webhooks/:id/ping', () => {
  it('queues a signed webhook.test through the normal delivery path (202), audited', async () => {
    const w = await subscribe(alice.key);
    const r = await ping(alice.key, w.id);
    expect(r.status, r.text).toBe(202);
    expect(r.json).toEqual({ deliveryId: expect.any(String), eventId: expect.any(String) });
    expect(await send()).toMatchObject({ delivered: 1 });
    expect(rx.received).toHaveLength(1);
    const got = rx.received[0]!;
    verifySignature(w.secret, got.headers['warden-signature'], got.raw);
    expect(got.headers['warden-event']).toBe('webhook.test');
    expect(got.headers['warden-delivery']).toBe(r.json.deliveryId);
    expect(got.body).toMatchObject({ id: r.json.eventId, type: 'webhook.test', webhookId: w.id });
    expect(got.body.job).toBeUndefined();
    // The ping is a delivery like any other: listed, about no job.
    const d = await call(R.deliveries!.GET!, 'GET', `/api/v1/webhooks/${w.id}/deliveries`, { key: alice.key, params: { id: w.id } });
    expect(d.json.deliveries).toEqual([expect.objectContaining({ id: r.json.deliveryId, event: 'webhook.test', jobId: null, status: 'delivered' })]);
    const [a] = await h.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'webhook.test'), eq(auditEvents.targetId, w.id)));
    expect(a).toMatchObject({ actor: `api:${alice.name}`, targetType: 'webhook' });
  });

  it('a second ping while one is pending is 429 ping_pending; once delivered, another goes', async () => {
    const w = await subscribe(alice.key);
    expect((await ping(alice.key, w.id)).status).toBe(202);
    expectError(await ping(alice.key, w.id), 429, 'ping_pending');
    // Concurrent pings: exactly one is queued.
    await send();
    const both = await Promise.all([ping(alice.key, w.id), ping(alice.key, w.id)]);
    expect(both.map((b) => b.status).sort()).toEqual([202, 429]);
    await send();
    expect((await ping(alice.key, w.id)).status).toBe(202);
    const [n] = await h.db.select({ n: sql<number>`count(*)::int` }).from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, w.id));
    expect(Number(n!.n)).toBe(3);
  });

  it("someone else's webhook is 404; a viewer may not ping (403); no key is 401", async () => {
    const w = await subscribe(alice.key);
    expectError(await ping(bob.key, w.id), 404, 'not_found');
    expectError(await attempts(bob.key, w.id), 404, 'not_found');
    expectError(await ping(h.viewer, w.id), 403);
    expectError(await ping('', w.id), 401);
    expectError(await ping(alice.key, 'not-a-uuid'), 404);
    const [n] = await h.db.select({ n: sql<number>`count(*)::int` }).from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, w.id));
    expect(Number(n!.n)).toBe(0);
    // The operator may (every subscription), and sees the attempts.
    expect((await ping(h.operator, w.id)).status).toBe(202);
    await send();
    expect((await attempts(h.operator, w.id)).json.attempts).toHaveLength(1);
  });
});

describe('GET /api/v1/webhooks/:id/attempts', () => {
  it('a 500 then a 200 leaves two attempts, newest first, the 500 kept with its body', async () => {
    const w = await subscribe(alice.key);
    let n = 0;
    rx.handler = () => (++n === 1 ? 500 : 200);
    const p = await ping(alice.key, w.id);
    expect(await send()).toMatchObject({ retried: 1 });
    await makeDue(w.id);
    expect(await send()).toMatchObject({ delivered: 1 });
    const r = await attempts(alice.key, w.id);
    expect(r.status, r.text).toBe(200);
    const [second, first] = r.json.attempts;
    expect(r.json.attempts).toHaveLength(2);
    expect(r.json.nextCursor).toBeNull();
    expect(first).toMatchObject({ deliveryId: p.json.deliveryId, event: 'webhook.test', attempt: 1, ok: false, responseStatus: 500, responseBody: 'receiver says 500', error: 'HTTP 500: receiver says 500' });
    expect(second).toMatchObject({ deliveryId: p.json.deliveryId, attempt: 2, ok: true, responseStatus: 200, responseBody: 'ok', error: null });
    // The request body is what was signed and sent, byte for byte.
    expect(first.requestBody).toBe(rx.received[0]!.raw);
    expect(second.requestBody).toBe(rx.received[1]!.raw);
    for (const a of [first, second]) {
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
      expect(Date.parse(a.at)).not.toBeNaN();
    }
    // Pages: limit and cursor, newest first.
    const p1 = await attempts(alice.key, w.id, '?limit=1');
    expect(p1.json.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([2]);
    const p2 = await attempts(alice.key, w.id, `?limit=1&cursor=${p1.json.nextCursor}`);
    expect(p2.json.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1]);
    expect(p2.json.nextCursor).toBeNull();
  });

  it('keeps only the first 4 KB of the answer, cut on a character boundary', async () => {
    const w = await subscribe(alice.key);
    const big = 'é'.repeat(3000) + 'END'; // 6003 bytes
    rx.handler = () => ({ status: 502, body: big });
    await ping(alice.key, w.id);
    await send();
    const [a] = (await attempts(alice.key, w.id)).json.attempts;
    expect(a.responseStatus).toBe(502);
    expect(Buffer.byteLength(a.responseBody)).toBe(4096);
    expect(big.startsWith(a.responseBody)).toBe(true);
    expect(a.responseBody).not.toContain('END');
  });

  it('no answer at all: the network error in words, no status', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const w = await subscribe(alice.key, `http://127.0.0.1:${port}/gone`);
    await ping(alice.key, w.id);
    await send();
    const [a] = (await attempts(alice.key, w.id)).json.attempts;
    expect(a).toMatchObject({ ok: false, responseStatus: null, responseBody: null });
    expect(a.error).toMatch(/ECONNREFUSED|refused/i);
  });

  it('bad queries are 422 in words', async () => {
    const w = await subscribe(alice.key);
    expectError(await attempts(alice.key, w.id, '?limit=0'), 422, undefined, 'limit');
    expectError(await attempts(alice.key, w.id, '?cursor=abc'), 422, undefined, 'cursor');
    expectError(await attempts(alice.key, w.id, '?sort=asc'), 422);
  });

  it('bounded: the history purge keeps the newest N per subscription', async () => {
    const w1 = await subscribe(alice.key);
    const w2 = await subscribe(bob.key);
    rx.handler = () => 500;
    for (const w of [w1, w2]) await ping(w === w1 ? alice.key : bob.key, w.id);
    await send();
    for (let i = 0; i < 2; i++) {
      await makeDue(w1.id);
      await makeDue(w2.id);
      await send();
    }
    const count = async (id: string) => Number((await h.db.select({ n: sql<number>`count(*)::int` }).from(webhookAttempts).where(eq(webhookAttempts.webhookId, id)))[0]!.n);
    expect([await count(w1.id), await count(w2.id)]).toEqual([3, 3]);
    expect(await trimWebhookAttempts(h.db, 2)).toBe(2);
    expect([await count(w1.id), await count(w2.id)]).toEqual([2, 2]);
    const left = (await attempts(alice.key, w1.id)).json.attempts.map((a: { attempt: number }) => a.attempt);
    expect(left).toEqual([3, 2]);
  });
});
