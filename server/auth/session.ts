import 'server-only';
import { and, count, eq, gt, lt, sql } from 'drizzle-orm';
import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { cache } from 'react';
import { getAppContext } from '../app';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { loginAttempts, operators, sessions } from '../db/schema';
import type { Actor } from '../domain/actor';
import { audit } from '../domain/audit';
import { AppError } from '../domain/errors';
import { hashPassword, newToken, sha256, verifyPassword } from '../domain/secrets';
import { runtimeOverrides } from './runtime';

/**
 * Operator sessions: a random token in an httpOnly cookie; only its SHA-256 is stored, so a leaked
 * sessions table cannot be replayed. Role and "disabled" are read from `operators` on every
 * request, so a demotion or a disable takes effect at once.
 */
export const SESSION_COOKIE = 'warden_session';
export const SESSION_TTL_MS = 12 * 3600 * 1000;
/** Throttle: this many failed logins for one email within the window refuse further tries. */
export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;
/** Failures from one client address (any emails) before it is refused: stops password spraying. */
export const LOGIN_MAX_FAILURES_PER_IP = 20;

export type OperatorActor = Extract<Actor, { kind: 'operator' }>;

/** Resolves a raw cookie token to its operator (null when unknown, expired or disabled). */
export async function resolveSessionToken(db: DbOrTx, token: string | undefined | null, now: Date): Promise<OperatorActor | null> {
  if (!token || token.length < 20 || token.length > 200) return null;
  const [row] = await db
    .select({ id: operators.id, email: operators.email, role: operators.role, disabled: operators.disabled })
    .from(sessions)
    .innerJoin(operators, eq(operators.id, sessions.operatorId))
    .where(and(eq(sessions.id, sha256(token)), gt(sessions.expiresAt, now)));
  if (!row || row.disabled) return null;
  return { kind: 'operator', id: row.id, email: row.email, role: row.role };
}

/** Reads the session cookie out of a Cookie header (route handlers, tests). */
export function tokenFromCookieHeader(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === SESSION_COOKIE) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

/** The signed-in operator of a route-handler request, or null. */
export async function requestActor(req: Request, ctx: Ctx): Promise<Actor | null> {
  const o = runtimeOverrides();
  if (o.resolveRequestActor) return o.resolveRequestActor(req, ctx);
  return resolveSessionToken(ctx.db, tokenFromCookieHeader(req.headers.get('cookie')), ctx.clock.now());
}

/** The signed-in operator of this request (server components and actions), cached per request. */
export const getSessionActor = cache(async (): Promise<Actor | null> => {
  const o = runtimeOverrides();
  if (o.resolveActor) return o.resolveActor();
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  const ctx = await getAppContext();
  return resolveSessionToken(ctx.db, token, ctx.clock.now());
});

/** Pages: the signed-in operator, or a redirect to /login. */
export async function requireSession(): Promise<OperatorActor> {
  const a = await getSessionActor();
  if (!a || a.kind !== 'operator') redirect('/login');
  return a;
}

let dummyHash: Promise<string> | null = null;

/**
 * Checks a password login and creates a session. Refuses (429) once an email has
 * LOGIN_MAX_FAILURES failures in the window, before the password is even checked, so the
 * throttle cannot be used as an oracle. Unknown emails cost the same scrypt as known ones.
 */
export async function loginWithPassword(
  ctx: Ctx,
  rawEmail: string,
  password: string,
  ip: string | null = null,
): Promise<{ token: string; actor: OperatorActor; expiresAt: Date }> {
  const email = rawEmail.trim().toLowerCase();
  const now = ctx.clock.now();
  const since = new Date(now.getTime() - LOGIN_WINDOW_MS);
  if (ip) {
    const [byIp] = await ctx.db
      .select({ n: count() })
      .from(loginAttempts)
      .where(and(eq(loginAttempts.ip, ip), gt(loginAttempts.at, since), eq(loginAttempts.success, false)));
    if ((byIp?.n ?? 0) >= LOGIN_MAX_FAILURES_PER_IP) {
      throw new AppError(429, 'too_many_attempts', 'Too many failed logins from your address. Try again in 15 minutes.');
    }
  }
  const [f] = await ctx.db
    .select({ n: count(), oldest: sql<string | null>`min(${loginAttempts.at})` })
    .from(loginAttempts)
    .where(and(eq(loginAttempts.email, email), gt(loginAttempts.at, since), eq(loginAttempts.success, false)));
  if ((f?.n ?? 0) >= LOGIN_MAX_FAILURES) {
    const oldest = f?.oldest ? new Date(f.oldest).getTime() : now.getTime();
    const minutes = Math.max(1, Math.ceil((oldest + LOGIN_WINDOW_MS - now.getTime()) / 60000));
    throw new AppError(
      429,
      'too_many_attempts',
      `Too many failed logins for ${email}. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    );
  }
  const [op] = await ctx.db.select().from(operators).where(eq(operators.email, email));
  let ok: boolean;
  if (op) ok = await verifyPassword(password, op.passwordHash);
  else {
    dummyHash ??= hashPassword('not-a-real-password');
    await verifyPassword(password, await dummyHash);
    ok = false;
  }
  if (!op || !ok || op.disabled) {
    await ctx.db.insert(loginAttempts).values({ email, ip, at: now, success: false });
    throw new AppError(401, 'invalid_login', op?.disabled && ok ? 'This operator account is disabled' : 'Email or password is incorrect');
  }
  const token = newToken();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await ctx.db.transaction(async (tx) => {
    await tx.insert(loginAttempts).values({ email, ip, at: now, success: true });
    await tx.delete(sessions).where(and(eq(sessions.operatorId, op.id), lt(sessions.expiresAt, now)));
    await tx.insert(sessions).values({ id: sha256(token), operatorId: op.id, createdAt: now, expiresAt });
    await audit(tx, { actor: `operator:${op.email}`, action: 'session.login', targetType: 'session', targetId: op.email, at: now });
  });
  return { token, actor: { kind: 'operator', id: op.id, email: op.email, role: op.role }, expiresAt };
}

/** The client's address as the proxy in front of Warden reports it (null when none does). */
export function clientAddress(h: Pick<Headers, 'get'>): string | null {
  const xff = h.get('x-forwarded-for')?.split(',')[0]?.trim();
  const ip = xff || h.get('x-real-ip')?.trim() || null;
  return ip ? ip.slice(0, 64) : null;
}

/** Whether the browser reached us over https (directly or through a proxy). */
async function requestIsHttps(): Promise<boolean> {
  const h = await headers();
  const proto = h.get('x-forwarded-proto')?.split(',')[0]?.trim();
  if (proto) return proto === 'https';
  return (h.get('origin') ?? '').startsWith('https://');
}

export async function setSessionCookie(token: string, expiresAt: Date): Promise<void> {
  (await cookies()).set({
    name: SESSION_COOKIE,
    value: token,
    httpOnly: true,
    sameSite: 'lax',
    secure: await requestIsHttps(),
    path: '/',
    expires: expiresAt,
  });
}

/** Deletes this browser's session row and cookie. */
export async function endSession(ctx: Ctx): Promise<void> {
  const jar = await cookies();
  const token = jar.get(SESSION_COOKIE)?.value;
  if (token) {
    const [s] = await ctx.db.delete(sessions).where(eq(sessions.id, sha256(token))).returning({ operatorId: sessions.operatorId });
    if (s) {
      const [op] = await ctx.db.select({ email: operators.email }).from(operators).where(eq(operators.id, s.operatorId));
      if (op) await audit(ctx.db, { actor: `operator:${op.email}`, action: 'session.logout', targetType: 'session', targetId: op.email, at: ctx.clock.now() });
    }
  }
  jar.delete(SESSION_COOKIE);
}
