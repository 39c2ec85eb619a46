import 'server-only';
import { z } from 'zod';
import { getAppContext } from '../app';
import { getSessionActor } from '../auth/session';
import { runtimeOverrides } from '../auth/runtime';
import type { Ctx } from '../context';
import type { Role } from '../db/schema';
import { type Actor, hasRole } from '../domain/actor';
import { AppError, describeIssue } from '../domain/errors';
import { log } from '../log';

/**
 * The one wrapper every dashboard server action goes through:
 *   1. resolves the session (none → `unauthorized`), checks the role (too low → `forbidden`),
 *   2. parses the input with zod (FormData is turned into a plain object first),
 *   3. runs the body, which calls the shared domain function (it checks the role again),
 *   4. returns a typed result; it never throws to the client and never leaks a stack.
 */
export type ActionError = { code: string; message: string; field?: string };
export type ActionResult<T = undefined> = { ok: true; message: string; data?: T } | { ok: false; error: ActionError };

/** `public` is only for the login action (there is no session yet). */
export type ActionRole = Role | 'public';

export interface ActionMeta {
  role: ActionRole;
  /** The input schema (test/fuzz.actions.test.ts skips generated input it would accept). */
  schema: z.ZodType;
}

export type ServerAction<I, T> = ((input: I | FormData) => Promise<ActionResult<T>>) & { meta: ActionMeta };

export interface ActionContext {
  ctx: Ctx;
  /** The signed-in operator (null only for `public` actions). */
  actor: Actor;
}

/** FormData → plain object: '' becomes undefined, a checkbox's "on" becomes true, repeated keys an array. */
export function formDataToObject(fd: FormData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(fd.keys())) {
    if (key.startsWith('$ACTION')) continue;
    const vals = fd.getAll(key).map((v) => (typeof v === 'string' ? (v === '' ? undefined : v === 'on' ? true : v) : v));
    out[key] = vals.length > 1 ? vals : vals[0];
  }
  return out;
}

function fail(code: string, message: string, field?: string): { ok: false; error: ActionError } {
  return { ok: false, error: field ? { code, message, field } : { code, message } };
}

export function action<S extends z.ZodType, T = undefined>(
  schema: S,
  role: ActionRole,
  fn: (input: z.output<S>, c: ActionContext) => Promise<{ message: string; data?: T }>,
): ServerAction<z.input<S>, T> {
  const run = async (raw: z.input<S> | FormData): Promise<ActionResult<T>> => {
    try {
      const o = runtimeOverrides();
      let actor: Actor | null = null;
      if (role !== 'public') {
        actor = await getSessionActor();
        if (!actor) return fail('unauthorized', 'Your session has ended. Log in again.');
        if (!hasRole(actor, role)) return fail('forbidden', `This action needs the ${role} role; you are ${actor.kind === 'operator' ? `a ${actor.role}` : actor.kind}.`);
      }
      const input = raw instanceof FormData ? formDataToObject(raw) : raw;
      const parsed = schema.safeParse(input);
      if (!parsed.success) {
        const i = parsed.error.issues.find((x) => x.code === 'unrecognized_keys') ?? parsed.error.issues[0]!;
        const { message, field } = describeIssue(schema, i);
        return fail('validation_failed', field && !message.includes(field) ? `${field}: ${message}` : message, field);
      }
      const ctx = await (o.getCtx ?? getAppContext)();
      const r = await fn(parsed.data, { ctx, actor: actor ?? { kind: 'system', name: 'system' } });
      return r.data === undefined ? { ok: true, message: r.message } : { ok: true, message: r.message, data: r.data };
    } catch (e) {
      if (e instanceof AppError) return fail(e.code, e.message, e.field);
      log.error({ err: e instanceof Error ? e.stack : String(e) }, 'server action failed');
      return fail('internal', 'Something went wrong on the server; see its log');
    }
  };
  return Object.assign(run, { meta: { role, schema } });
}

/** zod helpers for values that may arrive as form strings. */
export const formNumber = (label: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : Number(v)) : v),
    z.number({ error: (i) => (i.input === undefined ? `${label} is required` : `${label} must be a number`) }).refine(Number.isFinite, `${label} must be a number`),
  );
export const formBool = z.preprocess((v) => (v === 'true' || v === 'on' || v === true ? true : v === 'false' || v === undefined || v === false ? false : v), z.boolean());
export const jobId = z.uuid({ error: 'job id must be a UUID' });

/**
 * An object handed to a domain function as is, for it to validate with its own strict schema.
 * Not z.record(): that copies keys into a fresh object, where a `__proto__` key silently
 * vanishes (found by test/fuzz.actions.test.ts), so bad input would pass as `{}`.
 */
export const passThroughObject = (label: string) =>
  z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof FormData), { error: `${label} must be an object` });
