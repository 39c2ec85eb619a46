import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('server-only', () => ({}));

import { clientAddress, LOGIN_MAX_FAILURES, LOGIN_MAX_FAILURES_PER_IP, LOGIN_WINDOW_MS, loginWithPassword, resolveSessionToken, SESSION_TTL_MS } from '../server/auth/session';
import { FakeClock } from '../server/clock';
import type { Ctx } from '../server/context';
import { operators, sessions } from '../server/db/schema';
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
    await expect(loginWithPassword(ctx, 'off@example.com', 'correct horse')).rejects.toMatchObject({ status: 401 });
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

  it.each([
    [{ 'x-forwarded-for': '203.0.113.7, 10.0.0.1' }, '203.0.113.7'],
    [{ 'x-real-ip': '198.51.100.2' }, '198.51.100.2'],
    [{}, null],
  ])('reads the client address from %j', (h, expected) => {
    expect(clientAddress(new Headers(h))).toBe(expected);
  });
});
