import { getAppContext } from './app';
import type { Ctx } from './context';
import { authenticateBearer } from './domain/auth';
import type { Actor } from './domain/actor';
import { AppError, RetryLaterError } from './domain/errors';
import { resolveJobId } from './domain/job-ids';
import { log } from './log';

/** Thin shells for route handlers: JSON bodies, auth, and the one error shape. */

/**
 * Request body limits, enforced while the body streams in (a byte counter over req.body, and the
 * Content-Length up front), so an oversized or endless chunked body is refused with a 413 after
 * at most `limit` bytes have been read, never buffered whole. Server actions have their own
 * limit, enforced before Next reads them (bin/server.mjs, next.config.js).
 */
export const BODY_LIMITS = {
  /** Every JSON route unless it says otherwise: plans, users, kill, extend, keys. */
  json: 64 * 1024,
  /** POST /api/v1/jobs: env, command and labels are capped by the plan well below this. */
  submit: 256 * 1024,
  /** The login form (email, password, next). */
  login: 8 * 1024,
} as const;

function tooLarge(limit: number): AppError {
  return new AppError(413, 'body_too_large', `Request body is larger than the ${limit} bytes this route accepts`);
}

/**
 * Reads at most `limit` bytes of the body; 413 as soon as the declared or streamed size passes it.
 * The rest is left unread, not cancelled (cancelling resets the socket before the 413 is out);
 * nothing more is buffered, and the connection is closed once the answer is sent.
 */
export async function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!req.body) return Buffer.alloc(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.releaseLock();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/** The SQLSTATE of a PostgreSQL error, also when Drizzle wraps it (DrizzleQueryError.cause). */
function sqlState(e: unknown): string | undefined {
  let x: unknown = e;
  for (let i = 0; i < 3 && x && typeof x === 'object'; i++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    x = (x as { cause?: unknown }).cause;
  }
  return undefined;
}

export function errorResponse(e: unknown): Response {
  if (e instanceof RetryLaterError) return json(e.toJSON(), e.status, { 'retry-after': String(e.retryAfterS) });
  if (e instanceof AppError) return json(e.toJSON(), e.status);
  // Safety net for input that slipped past validation into SQL (a malformed id, a number out of
  // the column's range): the client's fault, so a 4xx in the usual shape, never a 500.
  const state = sqlState(e);
  if (state && /^22/.test(state)) {
    log.warn({ err: e instanceof Error ? e.message : String(e), sqlState: state }, 'invalid input reached the database');
    return json({ error: { code: 'invalid_input', message: 'A value in the request is not valid for its field' } }, 422);
  }
  if (state === '23505') {
    return json({ error: { code: 'conflict', message: 'A conflicting change was made at the same time; retry the request' } }, 409);
  }
  log.error({ err: e instanceof Error ? e.stack : String(e) }, 'unhandled error in route');
  return json({ error: { code: 'internal', message: 'Internal error; see the server log' } }, 500);
}

/** Reads a JSON object body: 413 past the limit, 400 for empty/malformed/non-object bodies, never a stack. */
export async function readJson(req: Request, opts: { optional?: boolean; limit?: number } = {}): Promise<unknown> {
  const buf = await readBody(req, opts.limit ?? BODY_LIMITS.json);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new AppError(400, 'invalid_json', 'Request body is not valid UTF-8');
  }
  if (text.trim() === '') {
    if (opts.optional) return {};
    throw new AppError(400, 'invalid_json', 'Request body must be a JSON object');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const m = e instanceof RangeError ? 'nested too deeply' : (e as Error).message;
    throw new AppError(400, 'invalid_json', `Request body is not valid JSON: ${m.slice(0, 200)}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AppError(400, 'invalid_json', 'Request body must be a JSON object');
  const proto = protoKeyPath(v);
  if (proto) throw new AppError(422, 'validation_failed', `The key "__proto__" is not allowed (at ${proto})`, proto.split('.')[0]);
  return v;
}

/**
 * Where a parsed body has an own `__proto__` key (JSON.parse makes it an ordinary property), or
 * null. zod's record parser skips such a key, so `labels: {"__proto__": "x"}` would otherwise be
 * dropped without a word; every JSON body is refused with it instead (docs/SECURITY.md).
 */
export function protoKeyPath(v: unknown): string | null {
  // Iterative, with each key's path kept as a link to its parent's: a body nested thousands deep
  // (JSON.parse accepts it) neither overflows the stack nor builds a path string per level.
  type Link = { key: string; up: Link | null } | null;
  const stack: { value: unknown; at: Link }[] = [{ value: v, at: null }];
  while (stack.length) {
    const { value, at } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    for (const k of Object.keys(value)) {
      const here: Link = { key: k, up: at };
      if (k === '__proto__') {
        const keys: string[] = [];
        for (let l: Link = here; l; l = l.up) keys.push(l.key);
        return keys.reverse().join('.');
      }
      stack.push({ value: (value as Record<string, unknown>)[k], at: here });
    }
  }
  return null;
}

/** Runs a handler with the app context and the bearer-key actor; maps errors to the error shape. */
export function api<P = Record<string, never>>(
  fn: (a: { req: Request; ctx: Ctx; actor: Actor; params: P }) => Promise<Response>,
): (req: Request, route: { params: Promise<P> }) => Promise<Response> {
  return async (req, route) => {
    try {
      const ctx = await getAppContext();
      const actor = await authenticateBearer(ctx.db, req.headers.get('authorization'), ctx.clock.now());
      const params = (await route?.params) ?? ({} as P);
      return await fn({ req, ctx, actor, params });
    } catch (e) {
      return errorResponse(e);
    }
  };
}

/**
 * api() for /api/v1/jobs/:id/…: `params.id` may be a unique prefix of the job id (≥ 6 characters);
 * the handler gets the full id (domain/job-ids.ts: 404, 409 ambiguous_id, 422 id_too_short).
 */
export function jobApi(
  fn: (a: { req: Request; ctx: Ctx; actor: Actor; params: { id: string } }) => Promise<Response>,
): (req: Request, route: { params: Promise<{ id: string }> }) => Promise<Response> {
  return api<{ id: string }>(async (a) => fn({ ...a, params: { ...a.params, id: await resolveJobId(a.ctx.db, a.actor, a.params.id) } }));
}

export function queryObject(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  new URL(req.url).searchParams.forEach((v, k) => {
    out[k] = v;
  });
  return out;
}

/** A job's results tar as a download (the API route and the dashboard's share it). */
export function resultsTarResponse(r: { job: { id: string }; results: { bytes: number; truncated: boolean; files: number }; body: ReadableStream<Uint8Array> }): Response {
  // Streamed from the database chunk by chunk (domain/results.ts resultsBody), never whole.
  return new Response(r.body, {
    status: 200,
    headers: {
      'content-type': 'application/x-tar',
      'content-length': String(r.results.bytes),
      'content-disposition': `attachment; filename="job-${r.job.id}-results.tar"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'warden-results-truncated': String(r.results.truncated),
      'warden-results-files': String(r.results.files),
    },
  });
}
