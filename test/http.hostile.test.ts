import { asc, count, eq, like } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../server/clock';
import { loginAttempts } from '../server/db/schema';
import { ensureInstallation } from '../server/domain/installation';
import { createOperatorKey } from '../server/domain/operators';
import { actionId, rawRequest, startServer, type RawRequest, type Server } from './helpers/http-server';
import { launchBrowser, requireBrowser } from './helpers/browser';
import { logIn } from './helpers/e2e';

/**
 * Hostile clients over real HTTP against Warden as `npm start` runs it (bin/server.mjs): real
 * sockets from different loopback addresses, spoofed forwarding headers, parallel guesses,
 * chunked bodies that never end, open redirects. The server runs web-only (no Docker needed here).
 */

const ADMIN = { email: 'admin@hostile.test', password: 'admin-pass-hostile-1' };
const TRUSTED_PROXY = '127.0.0.4';
let s: Server;
let opKey = '';

const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const login = (from: string, email: string, password: string, extra: { headers?: Record<string, string>; next?: string } = {}) =>
  rawRequest(s.port, {
    method: 'POST',
    path: '/auth/login',
    from,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(extra.headers ?? {}) },
    body: form({ email, password, ...(extra.next !== undefined ? { next: extra.next } : {}) }),
  });
/** What POST /auth/login said: its redirect carries the error code (never text), or the next page on success. */
const outcome = (r: { status: number; headers: Record<string, unknown> }) => {
  expect(r.status).toBe(303);
  const loc = String(r.headers.location);
  if (!loc.startsWith('/login?')) return { ok: true as const, location: loc };
  return { ok: false as const, error: new URLSearchParams(loc.slice('/login?'.length)).get('error') ?? '' };
};
const attemptsFor = async (pattern: string) =>
  s.db().db.select({ email: loginAttempts.email, ip: loginAttempts.ip, success: loginAttempts.success }).from(loginAttempts).where(like(loginAttempts.email, pattern)).orderBy(asc(loginAttempts.id));

beforeAll(async () => {
  s = await startServer('hostile', {
    WARDEN_WORKER: 'off',
    WARDEN_ADMIN_EMAIL: ADMIN.email,
    WARDEN_ADMIN_PASSWORD: ADMIN.password,
    WARDEN_TRUSTED_PROXIES: `${TRUSTED_PROXY}/32`,
    DOCKER_HOST: 'unix:///tmp/warden-hostile-no-engine.sock',
  });
  opKey = (await createOperatorKey({ db: s.db().db, clock: systemClock, node: 'test', installation: await ensureInstallation(s.db().db), docker: null }, { kind: 'system', name: 'cli' }, ADMIN.email)).apiKey;
}, 900_000);
afterAll(async () => {
  await s?.stop();
});

describe('login throttles over real sockets', () => {
  it('25 wrong logins for 25 emails from one address, each with its own X-Forwarded-For: 20 are checked, the address is then refused', async () => {
    const outcomes = [];
    for (let i = 0; i < 25; i++) {
      const r = await login('127.0.0.2', `spray${i}@hostile.test`, 'guess', { headers: { 'x-forwarded-for': `203.0.113.${i + 1}`, 'x-real-ip': `198.51.100.${i + 1}`, 'x-warden-peer': `192.0.2.${i + 1}` } });
      outcomes.push(outcome(r));
    }
    expect(outcomes.slice(0, 20).every((o) => !o.ok && o.error === 'invalid_login')).toBe(true);
    expect(outcomes.slice(20).every((o) => !o.ok && o.error === 'too_many_attempts')).toBe(true);
    // Every checked attempt is recorded against the socket's address, whatever the headers said.
    const rows = await attemptsFor('spray%');
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r.ip))).toEqual(new Set(['127.0.0.2']));
    // Another address is unaffected.
    expect(outcome(await login('127.0.0.3', ADMIN.email, ADMIN.password))).toMatchObject({ ok: true, location: '/overview' });
  });

  it('through a trusted proxy, X-Forwarded-For names the client: its 20 failures refuse it, not the proxy\'s other clients', async () => {
    for (let i = 0; i < 20; i++) {
      const o = outcome(await login(TRUSTED_PROXY, `viaproxy${i}@hostile.test`, 'guess', { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.200' } }));
      expect(o).toMatchObject({ ok: false, error: 'invalid_login' });
    }
    expect(outcome(await login(TRUSTED_PROXY, 'viaproxy-next@hostile.test', 'guess', { headers: { 'x-forwarded-for': '203.0.113.200' } }))).toMatchObject({ ok: false, error: 'too_many_attempts' });
    expect(outcome(await login(TRUSTED_PROXY, ADMIN.email, ADMIN.password, { headers: { 'x-forwarded-for': '203.0.113.201' } }))).toMatchObject({ ok: true });
    const rows = await attemptsFor('viaproxy%');
    expect(new Set(rows.map((r) => r.ip))).toEqual(new Set(['203.0.113.200']));
  });

  it('30 parallel wrong passwords for one email, from 30 addresses: at most 5 are checked', async () => {
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => login(`127.0.1.${i + 1}`, 'parallel@hostile.test', `guess-${i}`)));
    const o = rs.map(outcome);
    const checked = o.filter((x) => !x.ok && x.error === 'invalid_login').length;
    expect(checked).toBeLessThanOrEqual(5);
    expect(checked).toBe(5);
    expect(o.filter((x) => !x.ok && x.error === 'too_many_attempts')).toHaveLength(25);
    const [n] = await s.db().db.select({ n: count() }).from(loginAttempts).where(eq(loginAttempts.email, 'parallel@hostile.test'));
    expect(n!.n).toBe(5);
  });

  it('the login server action sees the socket address too, not a forged x-warden-peer', async () => {
    const id = actionId('server/actions/auth.ts', 'loginAction');
    const r = await rawRequest(s.port, {
      method: 'POST',
      path: '/login',
      from: '127.0.0.7',
      headers: { 'next-action': id, 'content-type': 'text/plain;charset=UTF-8', accept: 'text/x-component', 'x-warden-peer': '192.0.2.99', 'x-forwarded-for': '192.0.2.98' },
      body: JSON.stringify([{ email: 'action@hostile.test', password: 'guess' }]),
    });
    expect(r.status).toBe(200);
    expect(r.text).toContain('Email or password is incorrect');
    expect(await attemptsFor('action@%')).toEqual([{ email: 'action@hostile.test', ip: '127.0.0.7', success: false }]);
  });

  it('the cookie is Secure only when a trusted proxy says https (X-Forwarded-Proto from anyone else is ignored)', async () => {
    const viaProxy = await login(TRUSTED_PROXY, ADMIN.email, ADMIN.password, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.210' } });
    expect(String(viaProxy.headers['set-cookie'])).toMatch(/warden_session=.*;\s*Secure/i);
    const direct = await login('127.0.0.8', ADMIN.email, ADMIN.password, { headers: { 'x-forwarded-proto': 'https', 'x-warden-peer-proto': 'https' } });
    expect(String(direct.headers['set-cookie'])).toMatch(/warden_session=/);
    expect(String(direct.headers['set-cookie'])).not.toMatch(/Secure/i);
  });
});

describe('the login page shows fixed messages only', () => {
  it('?error=<any text> shows none of that text; a known code shows its fixed message', async () => {
    const planted = 'Your account is locked. Call +1 555 0100 now';
    const r = await rawRequest(s.port, { path: `/login?error=${encodeURIComponent(planted)}`, from: '127.0.0.10' });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('555 0100');
    expect(r.text).not.toContain('Your account is locked');
    expect(r.text).toContain('Login failed. Try again.');
    const known = await rawRequest(s.port, { path: '/login?error=invalid_login', from: '127.0.0.10' });
    expect(known.text).toContain('Email or password is incorrect');
  });

  it('a disabled operator with the right password gets the same answer as a wrong password', async () => {
    const { operators } = await import('../server/db/schema');
    const { hashPassword } = await import('../server/domain/secrets');
    await s.db().db.insert(operators).values({ email: 'gone@hostile.test', role: 'admin', passwordHash: await hashPassword('right-pass-1'), disabled: true });
    const right = outcome(await login('127.0.0.11', 'gone@hostile.test', 'right-pass-1'));
    const wrong = outcome(await login('127.0.0.11', 'gone@hostile.test', 'wrong-pass-1'));
    expect(right).toEqual({ ok: false, error: 'invalid_login' });
    expect(wrong).toEqual(right);
  });
});

describe('security headers on every answer', () => {
  const paths = ['/login', '/overview', '/api/health', '/api/v1/jobs', '/api/v1/openapi.json', '/no-such-page'];
  it.each(paths)('%s: CSP frame-ancestors none, X-Frame-Options DENY, Referrer-Policy, nosniff; no HSTS over plain HTTP', async (p) => {
    const r = await rawRequest(s.port, { path: p, from: '127.0.0.12' });
    expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['strict-transport-security']).toBeUndefined();
  });

  it('behind HTTPS (X-Forwarded-Proto: https) answers carry HSTS', async () => {
    for (const p of ['/login', '/api/health']) {
      const r = await rawRequest(s.port, { path: p, from: TRUSTED_PROXY, headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.220' } });
      expect(String(r.headers['strict-transport-security'])).toMatch(/max-age=\d{7,}/);
      expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    }
  });
});

describe('after login, only same-site paths', () => {
  it.each([
    ['/\t/evil.example', '/overview'],
    ['/%09/evil.example', '/%09/evil.example'], // stays percent-encoded: a path on this site
    ['//evil.example', '/overview'],
    ['/\\evil.example', '/overview'],
    ['/\n/evil.example', '/overview'],
    ['/a/..//evil.example', '/overview'],
    ['https://evil.example/', '/overview'],
    ['javascript:alert(1)', '/overview'],
    ['/jobs?tab=running', '/jobs?tab=running'],
  ])('next=%j → %s', async (next, location) => {
    const o = outcome(await login('127.0.0.9', ADMIN.email, ADMIN.password, { next }));
    expect(o).toEqual({ ok: true, location });
  });

  it('the login page never offers a control-character next to the form', async () => {
    const r = await rawRequest(s.port, { path: `/login?next=${encodeURIComponent('/\t/evil.example')}`, from: '127.0.0.9' });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/name="next" value="\/overview"/);
  });
});

describe('body limits: 413 in the error shape before the body is buffered', () => {
  // 2 MB, several times every limit below, then the body is held open and never ended.
  const endless = { chunk: 16 * 1024, total: 2 * 1024 * 1024, hold: true };
  const expect413 = (r: { status: number; json: unknown; text: string }) => {
    expect(r.status).toBe(413);
    expect(r.json).toEqual({ error: { code: 'body_too_large', message: expect.stringMatching(/larger than the \d+ bytes/) } });
  };
  const cases: [string, Omit<RawRequest, 'from'>, number][] = [
    ['login, Content-Length of 1 MB (nothing sent yet)', { method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(1 << 20) } }, 8 * 1024],
    ['login, chunked body that never ends', { method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, stream: endless }, 8 * 1024],
    ['job submit, chunked body that never ends', { method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/json' }, stream: endless }, 256 * 1024],
    ['plan update, chunked body that never ends', { method: 'PUT', path: '/api/v1/plans/free', headers: { 'content-type': 'application/json' }, stream: endless }, 64 * 1024],
  ];
  it.each(cases)('%s', async (_name, req, limit) => {
    const headers = { ...(req.headers ?? {}), ...(req.path.startsWith('/api/') ? { authorization: `Bearer ${opKey}` } : {}) };
    // Content-Length requests send no body at all: the answer must come from the header alone.
    const r = await rawRequest(s.port, { ...req, headers, from: '127.0.0.10' });
    // The body never ends: any answer at all was decided from at most the limit, never the whole body.
    expect413(r);
    expect(r.json.error.message).toContain(`larger than the ${limit} bytes`);
  });

  it('a server action: 413 by Content-Length at once, and for a chunked body that never ends', async () => {
    const id = actionId('server/actions/auth.ts', 'loginAction');
    const headers = { 'next-action': id, 'content-type': 'text/plain;charset=UTF-8' };
    expect413(await rawRequest(s.port, { method: 'POST', path: '/login', from: '127.0.0.11', headers: { ...headers, 'content-length': String(1 << 20) } }));
    const r = await rawRequest(s.port, { method: 'POST', path: '/login', from: '127.0.0.11', headers, stream: endless });
    expect413(r);
  });

  it('a small chunked server-action body still works (replayed to Next whole)', async () => {
    const id = actionId('server/actions/auth.ts', 'loginAction');
    const body = Buffer.from(JSON.stringify([{ email: 'chunked@hostile.test', password: 'guess' }]));
    const r = await rawRequest(s.port, {
      method: 'POST',
      path: '/login',
      from: '127.0.0.12',
      headers: { 'next-action': id, 'content-type': 'text/plain;charset=UTF-8', 'transfer-encoding': 'chunked' },
      body,
    });
    expect(r.status).toBe(200);
    expect(r.text).toContain('Email or password is incorrect');
    expect(await attemptsFor('chunked@%')).toEqual([{ email: 'chunked@hostile.test', ip: '127.0.0.12', success: false }]);
  });
});

describe('keys over HTTP', () => {
  const api = (method: string, path: string, key: string, body?: unknown) =>
    rawRequest(s.port, { method, path, from: '127.0.0.20', headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  it('a leaked user key is listed without its secret, revoked, and refused at once', async () => {
    const u = await api('POST', '/api/v1/users', opKey, { name: 'leaky', plan: 'free' });
    expect(u.status).toBe(201);
    const leaked: string = u.json.apiKey;
    expect((await api('GET', `/api/v1/jobs/00000000-0000-4000-8000-000000000000`, leaked)).status).toBe(404); // the key works
    const list = await api('GET', `/api/v1/users/${u.json.id}/keys`, opKey);
    expect(list.status).toBe(200);
    expect(list.json.keys).toHaveLength(1);
    const k = list.json.keys[0];
    expect(Object.keys(k).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'prefix', 'revokedAt']);
    expect(leaked.startsWith(k.prefix)).toBe(true);
    expect(list.text).not.toContain(leaked);
    expect(k.lastUsedAt).not.toBeNull();
    const del = await api('DELETE', `/api/v1/users/${u.json.id}/keys/${k.id}`, opKey);
    expect(del.status).toBe(200);
    expect(del.json.revokedAt).not.toBeNull();
    const refused = await api('GET', `/api/v1/jobs/00000000-0000-4000-8000-000000000000`, leaked);
    expect(refused.status).toBe(401);
    expect(refused.json).toEqual({ error: { code: 'unknown_key', message: 'This API key is not valid: it may have been revoked' } });
    expect((await api('DELETE', `/api/v1/users/${u.json.id}/keys/${k.id}`, opKey)).status).toBe(409);
    const audit = await api('GET', `/api/v1/audit?action=user.key.revoke`, opKey);
    expect(audit.json.events.map((e: { targetId: string }) => e.targetId)).toContain(u.json.id);
  });

  it('an operator key expiring in the past is refused at create; one with a future expiry works', async () => {
    const ops = await api('GET', '/api/v1/operators', opKey);
    const me = ops.json.operators.find((o: { email: string }) => o.email === ADMIN.email);
    expect((await api('POST', `/api/v1/operators/${me.id}/keys`, opKey, { expiresAt: '2000-01-01T00:00:00Z' })).status).toBe(422);
    const later = await api('POST', `/api/v1/operators/${me.id}/keys`, opKey, { expiresAt: new Date(Date.now() + 86400_000).toISOString() });
    expect(later.status).toBe(201);
    expect((await api('GET', '/api/v1/plans', later.json.apiKey)).status).toBe(200);
    const list = await api('GET', `/api/v1/operators/${me.id}/keys`, later.json.apiKey);
    expect(list.json.keys.find((k: { id: string }) => k.id === later.json.id).expiresAt).toBe(later.json.expiresAt);
    expect((await api('DELETE', `/api/v1/operators/${me.id}/keys/${later.json.id}`, later.json.apiKey)).status).toBe(200); // its own key
    expect((await api('GET', '/api/v1/plans', later.json.apiKey)).status).toBe(401);
  });
});

const hasBrowser = requireBrowser('dashboard key tests');

describe.skipIf(!hasBrowser)('dashboard: API keys in a browser (Users and Operators pages)', () => {
  let browser: Browser;
  let page: Page;
  const api = (method: string, p: string, key: string, body?: unknown) =>
    rawRequest(s.port, { method, path: p, from: '127.0.0.30', headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  beforeAll(async () => {
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
    await logIn(page, s.base, ADMIN);
  }, 120_000);
  afterAll(async () => {
    await browser?.close().catch(() => {});
  });

  it('an admin revokes a user key on the Users page, and the key is refused at once', async () => {
    const u = await api('POST', '/api/v1/users', opKey, { name: 'browser-leak', plan: 'free' });
    const key: string = u.json.apiKey;
    expect((await api('GET', '/api/v1/jobs/00000000-0000-4000-8000-000000000000', key)).status).toBe(404);
    await page.goto(`${s.base}/users?q=browser-leak`);
    await page.locator('tr[data-user="browser-leak"]').getByRole('button', { name: 'Edit' }).click();
    const panel = page.getByRole('region', { name: 'API keys of browser-leak' });
    const row = panel.locator(`tr[data-key="${key.slice(0, 10)}"]`);
    await row.getByText('active').waitFor();
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog', { name: /Revoke key/ }).getByRole('button', { name: 'Revoke key' }).click();
    await row.getByText('revoked').waitFor();
    expect((await api('GET', '/api/v1/jobs/00000000-0000-4000-8000-000000000000', key)).status).toBe(401);
    await page.screenshot({ path: 'test-results/keys-users.png' });
  }, 120_000);

  it('an admin creates an expiring operator key on the Operators page; it works until revoked there', async () => {
    await page.goto(`${s.base}/operators`);
    await page.locator(`tr[data-operator="${ADMIN.email}"]`).getByRole('button', { name: 'API keys' }).click();
    const dialog = page.getByRole('dialog', { name: `API keys of ${ADMIN.email}` });
    await dialog.getByLabel('Expiry of a new key').selectOption({ label: 'Expires in 7 days' });
    await dialog.getByRole('button', { name: 'New API key' }).click();
    const fresh = (await dialog.locator('code').innerText()).trim();
    expect(fresh).toMatch(/^wd_o_/);
    expect((await api('GET', '/api/v1/plans', fresh)).status).toBe(200);
    const row = dialog.locator(`tr[data-key="${fresh.slice(0, 10)}"]`);
    await row.getByText('active').waitFor();
    const listed = (await api('GET', '/api/v1/operators', opKey)).json.operators.find((o: { email: string }) => o.email === ADMIN.email);
    const k = (await api('GET', `/api/v1/operators/${listed.id}/keys`, opKey)).json.keys.find((x: { prefix: string }) => fresh.startsWith(x.prefix));
    expect(Date.parse(k.expiresAt) - Date.now()).toBeGreaterThan(6.9 * 86400_000);
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog', { name: /Revoke key/ }).getByRole('button', { name: 'Revoke key' }).click();
    await row.getByText('revoked').waitFor();
    expect((await api('GET', '/api/v1/plans', fresh)).status).toBe(401);
  }, 120_000);
});
