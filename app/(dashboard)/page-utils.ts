import { AppError } from '@/server/domain/errors';
import { log } from '@/server/log';

/** searchParams → plain object (first value wins). */
export function flatParams(sp: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(sp)) {
    const s = Array.isArray(v) ? v[0] : v;
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/** A message safe to show: AppError text as is, anything else generic (and logged). */
export function errorMessage(e: unknown): string {
  if (e instanceof AppError) return e.message;
  log.error({ err: e instanceof Error ? e.stack : String(e) }, 'page loader failed');
  return 'The server could not load this view; see its log';
}
