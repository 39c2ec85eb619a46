import type { Page } from 'playwright-core';
import { systemClock } from '../../server/clock';
import { ensureInstallation } from '../../server/domain/installation';
import { createOperatorKey } from '../../server/domain/operators';
import type { Warden } from './warden-server';

/**
 * What the end-to-end files share once `startWarden` has given them a real Warden: an operator
 * key, an API client that speaks to it, and the login form filled in as a person would.
 */

export interface Login {
  email: string;
  password: string;
}

/** `{status, body}` of one API call; the body is parsed JSON, or the text when it is not JSON (logs). */
export type Api = <T = unknown>(method: string, path: string, body?: unknown, key?: string) => Promise<{ status: number; body: T }>;

/**
 * An API client for a Warden whose address and operator key are known only once beforeAll has
 * run: both are read at each call. `key` overrides the operator key for one call (a user's key).
 */
export function apiClient(base: () => string, operatorKey: () => string): Api {
  return async <T = unknown>(method: string, p: string, body?: unknown, key = operatorKey()) => {
    const res = await fetch(`${base()}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* a text body (logs) */
    }
    return { status: res.status, body: parsed as T };
  };
}

/** A new operator API key for `email` (an operator `startWarden` created), as `warden operators keys` makes one. */
export async function operatorKey(warden: Warden, email: string): Promise<string> {
  const { db } = warden.db();
  const ctx = { db, clock: systemClock, node: 'e2e', installation: await ensureInstallation(db), docker: null };
  return (await createOperatorKey(ctx, { kind: 'system', name: 'cli' }, email)).apiKey;
}

/** Signs in through the login form and waits for the Overview. */
export async function logIn(page: Page, base: string, who: Login): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/overview$/, { timeout: 30_000 });
}

