import { and, eq } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobResults, jobs, type Job, type Plan } from '../db/schema';
import type { Runtime } from '../runtime/types';
import { log } from '../log';
import type { Actor } from './actor';
import { audit } from './audit';
import { errMessage } from './side-effects';
import { isFinal } from './status';

/**
 * Partial results: when a job ends — succeeded, failed, timed out (after SIGTERM, before any
 * removal), killed — the files under its resultsPath are copied out of the container with
 * Docker's archive API, capped at the plan's maxResultsMb (whole entries; past the cap the tar is
 * truncated and the job says so), and kept in PostgreSQL until the job's TTL, when the TTL
 * sweeper deletes them with the container.
 *
 * Why the database and not files under WARDEN_DATA_DIR: any web replica can serve them (a
 * directory would live on whichever worker's host copied them), they are deleted in the same
 * transaction that marks the job cleaned (no file left behind by a crash between the two), and
 * a backup of the database has them. The cost is at most maxResultsMb (default 50 MiB) of bytea
 * per finished job within its TTL, in a table of its own so job reads never carry the bytes.
 */

export const MIB = 1024 * 1024;

/** The job's tar, or null. */
export async function readResults(db: DbOrTx, jobId: string) {
  const [r] = await db.select().from(jobResults).where(eq(jobResults.jobId, jobId));
  return r ?? null;
}

/**
 * Copies the job's resultsPath out of its container (which must still exist) and stores it.
 * Never throws: a failed copy is noted on the job and audited, and must not hold up the job's end.
 * Skipped when this attempt's results are already saved (completion can be seen twice: events
 * stream and reconcile).
 */
export async function saveResults(
  ctx: Ctx,
  docker: Runtime,
  job: Pick<Job, 'id' | 'attempt' | 'resultsPath'>,
  containerId: string,
  plan: Pick<Plan, 'name' | 'maxResultsMb'>,
  actor: Actor | string,
): Promise<void> {
  const path = job.resultsPath;
  if (!path) return;
  try {
    const [have] = await ctx.db.select({ attempt: jobResults.attempt }).from(jobResults).where(eq(jobResults.jobId, job.id));
    if (have?.attempt === job.attempt) return;
    const at = ctx.clock.now();
    if (plan.maxResultsMb <= 0) {
      await note(ctx.db, job.id, `not kept: plan ${plan.name} keeps no results (maxResultsMb 0)`);
      return;
    }
    const capBytes = plan.maxResultsMb * MIB;
    const a = await docker.archive(containerId, path, capBytes);
    if (!a) {
      await ctx.db.transaction(async (tx) => {
        await note(tx, job.id, `${path} does not exist in the container`);
        await audit(tx, { actor, action: 'job.results', targetType: 'job', targetId: job.id, at, success: false, error: `${path} not found`, details: { path, containerId } });
      });
      return;
    }
    const msg = a.truncated
      ? `Truncated at the ${plan.maxResultsMb} MB cap of plan ${plan.name}: the first ${a.files} entries of ${path} kept`
      : `${a.files} entries of ${path}`;
    await ctx.db.transaction(async (tx) => {
      const row = { jobId: job.id, attempt: job.attempt, path, tar: a.tar, bytes: a.bytes, files: a.files, truncated: a.truncated, savedAt: at };
      await tx.insert(jobResults).values(row).onConflictDoUpdate({ target: jobResults.jobId, set: row });
      await tx.update(jobs).set({ resultsBytes: a.bytes, resultsTruncated: a.truncated, resultsNote: msg }).where(eq(jobs.id, job.id));
      await audit(tx, { actor, action: 'job.results', targetType: 'job', targetId: job.id, at, reason: msg, details: { path, containerId, bytes: a.bytes, files: a.files, truncated: a.truncated, capMb: plan.maxResultsMb } });
    });
  } catch (e) {
    log.warn({ err: errMessage(e), job: job.id }, 'results copy failed');
    await ctx.db
      .transaction(async (tx) => {
        await note(tx, job.id, `could not copy ${path}: ${errMessage(e).slice(0, 300)}`);
        await audit(tx, { actor, action: 'job.results', targetType: 'job', targetId: job.id, at: ctx.clock.now(), success: false, error: errMessage(e), details: { path, containerId } });
      })
      .catch(() => {});
  }
}

async function note(db: DbOrTx, jobId: string, resultsNote: string): Promise<void> {
  await db.update(jobs).set({ resultsNote }).where(eq(jobs.id, jobId));
}

/** The TTL sweeper's half: results go with the container (call inside the transaction that marks the job cleaned). */
export async function deleteResults(tx: DbOrTx, jobId: string): Promise<boolean> {
  const gone = await tx.delete(jobResults).where(eq(jobResults.jobId, jobId)).returning({ bytes: jobResults.bytes });
  if (gone.length === 0) return false;
  await tx
    .update(jobs)
    .set({ resultsBytes: null, resultsNote: 'Removed with the container at the end of the TTL' })
    .where(and(eq(jobs.id, jobId)));
  return true;
}

/** Why a job has no results, in words for the 404. */
export function noResultsMessage(j: Job): string {
  if (!j.resultsPath) return `Job ${j.id} has no resultsPath: nothing is copied out of its container`;
  if (!isFinal(j.status)) return `Job ${j.id} is ${j.status}: ${j.resultsPath} is copied out when it ends`;
  return `Job ${j.id} has no results${j.resultsNote ? ` (${j.resultsNote})` : ''}`;
}
