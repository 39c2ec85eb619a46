import net from 'node:net';
import { and, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('server-only', () => ({}));

import { clientAddress, requestIsHttps, LOGIN_MAX_FAILURES, LOGIN_MAX_FAILURES_PER_IP, LOGIN_WINDOW_MS, loginWithPassword, resolveSessionToken, SESSION_TTL_MS } from '../server/auth/session';
import { FakeClock } from '../server/clock';
import type { Ctx } from '../server/context';
import { loginAttempts, operators, sessions } from '../server/db/schema';
import { hashPassword, sha256 } from '../server/domain/secrets';
import { createTestDatabase } from './helpers/db';
import { makeCtx } from './helpers/fixtures';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let ctx: Ctx & { clock: FakeClock };
const clock = new FakeClock(Date.UTC(2026, 2, 1, 9, 0, 0));

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = (await makeCtx(db.db, { clock })) as Ctx & { clock: FakeClock };
  await ctx.db.insert(operators).values([
    { email: 'ann@example.com', role: 'operator', passwordHash: await hashPassword('correct horse') },
    { email: 'off@example.com', role: 'admin', passwordHash: await hashPassword('correct horse'), disabled: true },
  ]);
});
afterAll(async () => {
  await db?.drop();
});

describe('operator login', () => {
  it('creates a 12 h session stored as sha256(token), resolving to the operator and role', async () => {
    const s = await loginWithPassword(ctx, '  Ann@Example.com ', 'correct horse');
    expect(s.actor).toMatchObject({ kind: 'operator', email: 'ann@example.com', role: 'operator' });
    expect(s.expiresAt.getTime() - clock.now().getTime()).toBe(SESSION_TTL_MS);
    const rows = await ctx.db.select().from(sessions);
    expect(rows.map((r) => r.id)).toContain(sha256(s.token));
    expect(rows.map((r) => r.id)).not.toContain(s.token);
    expect(await resolveSessionToken(ctx.db, s.token, clock.now())).toMatchObject({ email: 'ann@example.com', role: 'operator' });
    // Role changes apply to live sessions at once.
    await ctx.db.update(operators).set({ role: 'viewer' }).where(eq(operators.email, 'ann@example.com'));
    expect(await resolveSessionToken(ctx.db, s.token, clock.now())).toMatchObject({ role: 'viewer' });
    await ctx.db.update(operators).set({ role: 'operator' }).where(eq(operators.email, 'ann@example.com'));
    // Expired after 12 h.
    expect(await resolveSessionToken(ctx.db, s.token, new Date(clock.now().getTime() + SESSION_TTL_MS + 1))).toBeNull();
  });

  it('refuses wrong passwords, unknown emails and disabled operators with one message', async () => {
    await expect(loginWithPassword(ctx, 'nobody@example.com', 'whatever')).rejects.toMatchObject({ status: 401, message: 'Email or password is incorrect' });
    await expect(loginWithPassword(ctx, 'off@example.com', 'wrong horse')).rejects.toMatchObject({ status: 401, code: 'invalid_login', message: 'Email or password is incorrect' });
    // The right password of a disabled operator: the same answer, so it confirms nothing.
    await expect(loginWithPassword(ctx, 'off@example.com', 'correct horse')).rejects.toMatchObject({ status: 401, code: 'invalid_login', message: 'Email or password is incorrect' });
  });

  it(`throttles after ${LOGIN_MAX_FAILURES} failures per email in 15 minutes, even with the right password`, async () => {
    for (let i = 0; i < LOGIN_MAX_FAILURES; i++) {
      await expect(loginWithPassword(ctx, 'ann@example.com', `wrong ${i}`)).rejects.toMatchObject({ status: 401 });
      clock.advance(10_000);
    }
    await expect(loginWithPassword(ctx, 'ann@example.com', 'correct horse')).rejects.toMatchObject({
      status: 429,
      code: 'too_many_attempts',
      message: expect.stringMatching(/Too many failed logins for ann@example\.com\. Try again in \d+ minutes?\./),
    });
    // Other emails are unaffected.
    await expect(loginWithPassword(ctx, 'nobody@example.com', 'x')).rejects.toMatchObject({ status: 401 });
    clock.advance(15 * 60_000);
    const s = await loginWithPassword(ctx, 'ann@example.com', 'correct horse');
    expect(s.actor.email).toBe('ann@example.com');
  });
  it(`refuses an address after ${LOGIN_MAX_FAILURES_PER_IP} failures across emails (password spraying); others are unaffected`, async () => {
    clock.advance(LOGIN_WINDOW_MS + 1000); // a fresh window
    await ctx.db.insert(operators).values({ email: 'bea@example.com', role: 'viewer', passwordHash: await hashPassword('correct horse') });
    for (let i = 0; i < LOGIN_MAX_FAILURES_PER_IP; i++) {
      // A different email each time, so the per-email limit never trips.
      await expect(loginWithPassword(ctx, `spray${i}@example.com`, 'guess', '203.0.113.7')).rejects.toMatchObject({ status: 401 });
    }
    await expect(loginWithPassword(ctx, 'bea@example.com', 'correct horse', '203.0.113.7')).rejects.toMatchObject({
      status: 429,
      code: 'too_many_attempts',
      message: 'Too many failed logins from your address. Try again in 15 minutes.',
    });
    // Another address logs in fine; so does this one once the window has passed.
    await expect(loginWithPassword(ctx, 'bea@example.com', 'correct horse', '198.51.100.2')).resolves.toMatchObject({ actor: { email: 'bea@example.com' } });
    clock.advance(LOGIN_WINDOW_MS + 1000);
    await expect(loginWithPassword(ctx, 'bea@example.com', 'correct horse', '203.0.113.7')).resolves.toMatchObject({ actor: { email: 'bea@example.com' } });
  });

  it('30 parallel wrong passwords for one email: at most 5 are checked, the rest refused before any password check', async () => {
    clock.advance(LOGIN_WINDOW_MS + 1000);
    await ctx.db.insert(operators).values({ email: 'race@example.com', role: 'viewer', passwordHash: await hashPassword('correct horse') });
    const r = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => loginWithPassword(ctx, 'race@example.com', `guess ${i}`, `198.18.0.${i + 1}`)));
    const statuses = r.map((x) => (x.status === 'rejected' ? (x.reason as { status: number }).status : 200));
    expect(statuses.filter((s) => s === 401)).toHaveLength(LOGIN_MAX_FAILURES);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - LOGIN_MAX_FAILURES);
    const [rows] = await ctx.db.select({ n: count() }).from(loginAttempts).where(and(eq(loginAttempts.email, 'race@example.com')));
    expect(rows!.n).toBe(LOGIN_MAX_FAILURES);
  });

  it(`30 parallel wrong logins for 30 emails from one address: at most ${LOGIN_MAX_FAILURES_PER_IP} are checked`, async () => {
    clock.advance(LOGIN_WINDOW_MS + 1000);
    const r = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => loginWithPassword(ctx, `par${i}@example.com`, 'guess', '198.19.0.1')));
    const statuses = r.map((x) => (x.status === 'rejected' ? (x.reason as { status: number }).status : 200));
    expect(statuses.filter((s) => s === 401)).toHaveLength(LOGIN_MAX_FAILURES_PER_IP);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - LOGIN_MAX_FAILURES_PER_IP);
  });

  // The peer header is stamped by bin/server.mjs from the socket (over real HTTP: test/http.hostile.test.ts).
  const proxies = new net.BlockList();
  proxies.addSubnet('10.0.0.0', 8, 'ipv4');
  proxies.addAddress('::1', 'ipv6');
  it.each([
    ['the socket peer, X-Forwarded-For ignored from an untrusted peer', { 'x-warden-peer': '198.51.100.9', 'x-forwarded-for': '203.0.113.7' }, '198.51.100.9'],
    ['an IPv4-mapped peer in plain form', { 'x-warden-peer': '::ffff:127.0.0.2' }, '127.0.0.2'],
    ['X-Real-IP is never read', { 'x-warden-peer': '198.51.100.9', 'x-real-ip': '203.0.113.7' }, '198.51.100.9'],
    ['a trusted proxy: the right-most hop it did not add itself', { 'x-warden-peer': '10.1.2.3', 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.5' }, '203.0.113.7'],
    ['a trusted IPv6 proxy', { 'x-warden-peer': '::1', 'x-forwarded-for': '203.0.113.8' }, '203.0.113.8'],
    ['a trusted proxy without X-Forwarded-For: the proxy itself', { 'x-warden-peer': '10.1.2.3' }, '10.1.2.3'],
    ['a trusted proxy forwarding junk: junk is skipped', { 'x-warden-peer': '10.1.2.3', 'x-forwarded-for': 'not-an-ip, 203.0.113.9' }, '203.0.113.9'],
    ['no peer stamp: unknown', { 'x-forwarded-for': '203.0.113.7' }, null],
  ])('client address: %s', (_name, h, expected) => {
    const g = globalThis as { __wardenPeerStamp?: boolean };
    g.__wardenPeerStamp = true;
    try {
      expect(clientAddress(new Headers(h), proxies)).toBe(expected);
    } finally {
      g.__wardenPeerStamp = undefined;
    }
  });
  it('without bin/server.mjs in the process, a client-written peer header is not believed', () => {
    expect(clientAddress(new Headers({ 'x-warden-peer': '198.51.100.9' }), proxies)).toBeNull();
    expect(requestIsHttps(new Headers({ 'x-warden-peer': '10.0.0.1', 'x-warden-peer-proto': 'https', 'x-forwarded-proto': 'https' }), proxies)).toBe(false);
  });
  it.each([
    [{ 'x-warden-peer': '198.51.100.9', 'x-warden-peer-proto': 'https' }, true],
    [{ 'x-warden-peer': '198.51.100.9', 'x-warden-peer-proto': 'http', 'x-forwarded-proto': 'https' }, false],
    [{ 'x-warden-peer': '10.1.2.3', 'x-warden-peer-proto': 'http', 'x-forwarded-proto': 'https' }, true],
    [{ 'x-warden-peer': '10.1.2.3', 'x-warden-peer-proto': 'http', 'x-forwarded-proto': 'http' }, false],
  ])('secure cookie for %j: %s', (h, expected) => {
    const g = globalThis as { __wardenPeerStamp?: boolean };
    g.__wardenPeerStamp = true;
    try {
      expect(requestIsHttps(new Headers(h), proxies)).toBe(expected);
    } finally {
      g.__wardenPeerStamp = undefined;
    }
  });
});
