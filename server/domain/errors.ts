import type { z } from 'zod';
import { didYouMean } from './did-you-mean';

/**
 * Errors that cross the API boundary as {"error": {code, message, field?}} with a 4xx status.
 * Anything else is a 500 with a generic message (never a stack).
 */
export class AppError extends Error {
  constructor(
    public readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 422 | 429 | 503,
    public readonly code: string,
    message: string,
    public readonly field?: string,
  ) {
    super(message);
  }
  toJSON() {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

export const notFound = (what: string, id?: string) =>
  new AppError(404, 'not_found', id ? `${what} ${id} not found` : `${what} not found`);
export const forbidden = (message = 'Your role does not allow this action') => new AppError(403, 'forbidden', message);
export const conflict = (message: string, code = 'conflict') => new AppError(409, code, message);
export const invalid = (message: string, field?: string, code = 'validation_failed') =>
  new AppError(422, code, message, field);

type Issue = z.core.$ZodIssue;

/** The object schema at `path` inside `schema` (through optional, nullable, default, pipe…), if any. */
function objectAt(schema: z.ZodType, path: readonly PropertyKey[]): readonly string[] | undefined {
  let s: z.core.$ZodType | undefined = schema;
  for (let i = 0; s && i <= path.length; ) {
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === 'object') {
      const shape = def.shape as Record<string, z.core.$ZodType>;
      if (i === path.length) return Object.keys(shape);
      s = shape[String(path[i])];
      i++;
    } else if (def.type === 'array' && i < path.length) {
      s = def.element as z.core.$ZodType;
      i++;
    } else if (def.type === 'record' && i < path.length) {
      s = def.valueType as z.core.$ZodType;
      i++;
    } else s = (def.innerType ?? def.in ?? def.schema) as z.core.$ZodType | undefined;
  }
  return undefined;
}

/**
 * A zod issue in words a user knows, naming its field. An unknown key names itself and the known
 * field it most likely meant: `Unknown field "timeout" (did you mean "timeoutSeconds"?)`, with
 * `field` = "timeout" (the whole path for a nested object).
 */
export function describeIssue(schema: z.ZodType | undefined, i: Issue): { message: string; field?: string } {
  const path = i.path.map(String);
  if (i.code === 'unrecognized_keys' && i.keys.length) {
    const key = i.keys[0]!;
    const known = schema ? objectAt(schema, i.path) : undefined;
    const guess = known ? didYouMean(key, known) : undefined;
    const hint = guess ? ` (did you mean "${guess}"?)` : known?.length && known.length <= 12 ? ` (known fields: ${known.join(', ')})` : '';
    const more = i.keys.length > 1 ? `; also unknown: ${i.keys.slice(1, 6).map((k) => `"${k}"`).join(', ')}` : '';
    return { message: `Unknown field "${key}"${hint}${more}`, field: [...path, key].join('.') };
  }
  return { message: i.message, field: path.join('.') || undefined };
}

/**
 * The first zod issue as a 422 naming its field: how every domain function reports bad input.
 * An unknown field comes first: a misspelt `timeout` also explains why `timeoutSeconds` did not
 * apply, so it is the more useful of the two messages.
 */
export function zodFail(issues: readonly Issue[], schema?: z.ZodType): AppError {
  const i = issues.find((x) => x.code === 'unrecognized_keys') ?? issues[0]!;
  const d = describeIssue(schema, i);
  return invalid(d.message, d.field);
}

/** Parses input with a shared schema or throws zodFail's 422. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw zodFail(r.error.issues, schema);
  return r.data;
}

/** A 429 that tells the client when to try again (sent as `Retry-After`, seconds). */
export class RetryLaterError extends AppError {
  constructor(
    code: string,
    message: string,
    public readonly retryAfterS: number,
  ) {
    super(429, code, message);
  }
}
