import type { z } from 'zod';

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

/** The first zod issue as a 422 naming its field: how every domain function reports bad input. */
export function zodFail(issues: readonly { message: string; path: readonly PropertyKey[] }[]): AppError {
  const i = issues[0]!;
  return invalid(i.message, i.path.map(String).join('.') || undefined);
}

/** Parses input with a shared schema or throws zodFail's 422. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw zodFail(r.error.issues);
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
