import { and, between, eq, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { jobs } from '../db/schema';
import type { Actor } from './actor';
import { AppError, invalid, notFound } from './errors';
import { isUuid } from './schemas';

/** The shortest job-id prefix accepted anywhere a job id is (API, dashboard search, URLs, audit filter). */
export const MIN_JOB_ID_PREFIX = 6;
/** How many matches an ambiguous prefix lists. */
const LIST_MATCHES = 5;

/**
 * A job-id prefix as the range of uuids it covers: `76ea2f` → [76ea2f00-0000-…, 76ea2fff-ffff-…].
 * A range on the uuid column uses its primary-key index (`id::text like '76ea2f%'` could not).
 * Null when `ref` is not a hex prefix (hyphens allowed where a uuid has them) of 6–32 digits.
 */
export function jobIdRange(ref: string): { lo: string; hi: string; hex: string } | null {
  const s = ref.trim().toLowerCase();
  if (!/^[0-9a-f-]+$/.test(s)) return null;
  const hex = s.replace(/-/g, '');
  if (hex.length < MIN_JOB_ID_PREFIX || hex.length > 32) return null;
  // Hyphens only where a uuid has them (after 8, 12, 16 and 20 digits).
  let pos = 0;
  for (const ch of s) {
    if (ch === '-') {
      if (![8, 12, 16, 20].includes(pos)) return null;
    } else pos += 1;
  }
  const fmt = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return { lo: fmt(hex.padEnd(32, '0')), hi: fmt(hex.padEnd(32, 'f')), hex };
}

/** The SQL condition "jobs.id starts with this prefix" (index-friendly), or null for a non-prefix. */
export function jobIdPrefixCondition(ref: string): SQL | null {
  const r = jobIdRange(ref);
  return r ? between(jobs.id, r.lo, r.hi) : null;
}

/**
 * A job reference → the job's full id: a full uuid as it is, a unique prefix of ≥ 6 hex digits
 * (`76ea2f6c`) to the one job it starts. A user key resolves among its own jobs only (others' do
 * not exist for it, and make no prefix ambiguous). 404 when nothing matches, 409 `ambiguous_id`
 * listing the matches, 422 `id_too_short` for a shorter prefix.
 */
export async function resolveJobId(db: DbOrTx, actor: Actor, ref: string): Promise<string> {
  const s = ref.trim();
  if (isUuid(s)) return s.toLowerCase();
  const r = jobIdRange(s);
  if (!r) {
    if (/^[0-9a-f-]{1,5}$/i.test(s) && s.replace(/-/g, '').length < MIN_JOB_ID_PREFIX) {
      throw invalid(`A job id prefix needs at least ${MIN_JOB_ID_PREFIX} characters (got "${s}")`, 'id', 'id_too_short');
    }
    throw notFound('Job', s.slice(0, 64));
  }
  const where = [between(jobs.id, r.lo, r.hi)];
  if (actor.kind === 'user') where.push(eq(jobs.userId, actor.id));
  const rows = await db
    .select({ id: jobs.id, name: jobs.name, status: jobs.status })
    .from(jobs)
    .where(and(...where))
    .orderBy(jobs.id)
    .limit(LIST_MATCHES + 1);
  if (rows.length === 0) throw notFound('Job', s);
  if (rows.length === 1) return rows[0]!.id;
  const listed = rows.slice(0, LIST_MATCHES).map((j) => `${j.id} (${j.name ?? 'unnamed'}, ${j.status})`);
  throw new AppError(
    409,
    'ambiguous_id',
    `Job id prefix "${s}" matches ${rows.length > LIST_MATCHES ? `more than ${LIST_MATCHES}` : rows.length} jobs: ${listed.join('; ')}. Type more characters.`,
    'id',
  );
}
