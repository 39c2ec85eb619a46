import 'server-only';
import net from 'node:net';
import { and, count, eq, gt, lt, sql } from 'drizzle-orm';
import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { cache } from 'react';
import { getAppContext } from '../app';
import { config } from '../config';
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

/** Advisory-lock classes (pg_advisory_xact_lock(class, key)) of the two throttles. */
const LOCK_EMAIL = 7301101;
const LOCK_IP = 7301102;

/**
 * Reserves one login attempt, atomically: under a transaction-scoped advisory lock per email
 * (and per client address), count the failures in the window and, when under both limits,
 * insert this attempt as a failure *before* the password is checked. Thirty parallel guesses for
 * one email therefore serialise on the lock: the first five reserve a row, the other 25 see five
 * failures and are refused without a password check. (Counting first and inserting after the
 * slow scrypt let every parallel guess through the count.) Locks are always taken email first,
 * then address, so two logins can never wait on each other in a cycle.
 */
async function reserveAttempt(ctx: Ctx, email: string, ip: string | null, now: Date): Promise<number> {
  const since = new Date(now.getTime() - LOGIN_WINDOW_MS);
  return ctx.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_EMAIL}, hashtext(${email}))`);
    if (ip) {
      await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_IP}, hashtext(${ip}))`);
      const [byIp] = await tx
        .select({ n: count() })
        .from(loginAttempts)
        .where(and(eq(loginAttempts.ip, ip), gt(loginAttempts.at, since), eq(loginAttempts.success, false)));
      if ((byIp?.n ?? 0) >= LOGIN_MAX_FAILURES_PER_IP) {
        throw new AppError(429, 'too_many_attempts', 'Too many failed logins from your address. Try again in 15 minutes.');
      }
    }
    const [f] = await tx
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
    const [row] = await tx.insert(loginAttempts).values({ email, ip, at: now, success: false }).returning({ id: loginAttempts.id });
    return row!.id;
  });
}

/**
 * Checks a password login and creates a session. Refuses (429) once an email has
 * LOGIN_MAX_FAILURES failures in the window, or the client address LOGIN_MAX_FAILURES_PER_IP,
 * before the password is even checked, so the throttle cannot be used as an oracle. Unknown
 * emails cost the same scrypt as known ones. `ip` is the client address (clientAddress()).
 */
export async function loginWithPassword(
  ctx: Ctx,
  rawEmail: string,
  password: string,
  ip: string | null = null,
): Promise<{ token: string; actor: OperatorActor; expiresAt: Date }> {
  const email = rawEmail.trim().toLowerCase().slice(0, 254);
  const now = ctx.clock.now();
  const attemptId = await reserveAttempt(ctx, email, ip, now);
  const [op] = await ctx.db.select().from(operators).where(eq(operators.email, email));
  let ok: boolean;
  if (op) ok = await verifyPassword(password, op.passwordHash);
  else {
    dummyHash ??= hashPassword('not-a-real-password');
    await verifyPassword(password, await dummyHash);
    ok = false;
  }
  if (!op || !ok || op.disabled) {
    // The reserved row already counts as this failure. One answer for all three: a distinct one
    // for a disabled operator would confirm that the password guessed is right.
    throw new AppError(401, 'invalid_login', 'Email or password is incorrect');
  }
  const token = newToken();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await ctx.db.transaction(async (tx) => {
    await tx.update(loginAttempts).set({ success: true }).where(eq(loginAttempts.id, attemptId));
    await tx.delete(sessions).where(and(eq(sessions.operatorId, op.id), lt(sessions.expiresAt, now)));
    await tx.insert(sessions).values({ id: sha256(token), operatorId: op.id, createdAt: now, expiresAt });
    await audit(tx, { actor: `operator:${op.email}`, action: 'session.login', targetType: 'session', targetId: op.email, at: now });
  });
  return { token, actor: { kind: 'operator', id: op.id, email: op.email, role: op.role }, expiresAt };
}

/**
 * Headers bin/server.mjs stamps on every request from the socket itself, after deleting any a
 * client sent: the peer's address and whether the connection is TLS. They are believed only
 * when that wrapper runs in this process (it sets the flag below), so under a bare `next start`
 * a client cannot forge them; there the address is unknown (null) and only the per-email
 * throttle applies.
 */
export const PEER_HEADER = 'x-warden-peer';
export const PEER_PROTO_HEADER = 'x-warden-peer-proto';
const wrapped = () => (globalThis as { __wardenPeerStamp?: boolean }).__wardenPeerStamp === true;

/** `::ffff:127.0.0.1` → `127.0.0.1`; anything that is not an IP → null. */
export function normalizeIp(raw: string | null | undefined): string | null {
  const v = raw?.trim();
  if (!v) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v);
  const ip = mapped ? mapped[1]! : v;
  return net.isIP(ip) ? ip : null;
}

function isTrusted(ip: string, proxies: net.BlockList): boolean {
  return proxies.check(ip, net.isIPv6(ip) ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the socket's peer; when that peer is a trusted proxy
 * (WARDEN_TRUSTED_PROXIES), the right-most X-Forwarded-For hop that is not itself a trusted
 * proxy (hops to its left are whatever the client wrote). Null when the peer is unknown.
 */
export function clientAddress(h: Pick<Headers, 'get'>, proxies: net.BlockList = config().WARDEN_TRUSTED_PROXIES.list): string | null {
  const peer = wrapped() ? normalizeIp(h.get(PEER_HEADER)) : null;
  if (!peer || !isTrusted(peer, proxies)) return peer;
  const hops = (h.get('x-forwarded-for') ?? '').split(',').map((x) => normalizeIp(x)).filter((x): x is string => x !== null);
  for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i]!, proxies)) return hops[i]!;
  return hops[0] ?? peer;
}

/** Whether the browser reached us over https: the socket's own TLS, or X-Forwarded-Proto from a trusted proxy. */
export function requestIsHttps(h: Pick<Headers, 'get'>, proxies: net.BlockList = config().WARDEN_TRUSTED_PROXIES.list): boolean {
  if (!wrapped()) return false;
  if (h.get(PEER_PROTO_HEADER) === 'https') return true;
  const peer = normalizeIp(h.get(PEER_HEADER));
  if (!peer || !isTrusted(peer, proxies)) return false;
  return h.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

export async function setSessionCookie(token: string, expiresAt: Date): Promise<void> {
  (await cookies()).set({
    name: SESSION_COOKIE,
    value: token,
    httpOnly: true,
    sameSite: 'lax',
    secure: requestIsHttps(await headers()),
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
