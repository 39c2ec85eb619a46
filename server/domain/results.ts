import { and, eq, ne, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobResults, jobs, type Job, type Plan } from '../db/schema';
import type { DockerRuntime } from '../docker/types';
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

/** The job's tar, or null. Whole in memory: for tests and small reads, not for downloads (resultsBody). */
export async function readResults(db: DbOrTx, jobId: string) {
  const [r] = await db.select().from(jobResults).where(eq(jobResults.jobId, jobId));
  return r ?? null;
}

/** What a download needs to know before the bytes: never the tar itself. */
export async function readResultsMeta(db: DbOrTx, jobId: string) {
  const [r] = await db
    .select({ attempt: jobResults.attempt, bytes: sql<number>`octet_length(${jobResults.tar})`.mapWith(Number), files: jobResults.files, truncated: jobResults.truncated })
    .from(jobResults)
    .where(eq(jobResults.jobId, jobId));
  return r ?? null;
}

/**
 * A download reads the tar this many bytes at a time. 1 MiB: a 50 MiB tar (the default per-job
 * cap) is 50 short queries, and a download holds at most about two chunks, never the value.
 */
export const RESULTS_CHUNK_BYTES = MIB;

/** Counts a download's reads (tests): how many, and the largest chunk held. */
export interface ResultsMeter {
  reads: number;
  maxChunkBytes: number;
}

/**
 * The saved tar as a stream read from PostgreSQL in chunks (`substring(tar from … for …)`), one
 * query per chunk as the client takes them (pull-based, so a slow client holds the next chunk at
 * most). Why substring over bytea and not a large object: the tar stays a plain column of
 * job_results, deleted with its row by the TTL sweeper in the transaction that marks the job
 * cleaned and by the jobs cascade (a large object would need its own lo_unlink and leaks when a
 * delete misses it), and migration reads_results_storage stores the column EXTERNAL (uncompressed) so each
 * substring reads only its own TOAST chunks instead of decompressing the value from the start.
 * The `attempt` pins the value: if the row is replaced or removed mid-download, the stream
 * errors rather than splicing two tars.
 */
export function resultsBody(db: DbOrTx, jobId: string, attempt: number, total: number, o: { chunkBytes?: number; meter?: ResultsMeter } = {}): ReadableStream<Uint8Array> {
  const size = Math.max(1, o.chunkBytes ?? RESULTS_CHUNK_BYTES);
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (offset >= total) {
          controller.close();
          return;
        }
        const len = Math.min(size, total - offset);
        const rows = await db
          .select({ part: sql<Buffer>`substring(${jobResults.tar} from ${offset + 1} for ${len})` })
          .from(jobResults)
          .where(and(eq(jobResults.jobId, jobId), eq(jobResults.attempt, attempt)));
        const part = rows[0]?.part;
        if (!part || part.length !== len) {
          controller.error(new Error(`the results of job ${jobId} changed or were removed during the download`));
          return;
        }
        if (o.meter) {
          o.meter.reads++;
          o.meter.maxChunkBytes = Math.max(o.meter.maxChunkBytes, part.length);
        }
        offset += len;
        controller.enqueue(new Uint8Array(part.buffer, part.byteOffset, part.length));
      },
    },
    { highWaterMark: 1 },
  );
}

/**
 * Copies the job's resultsPath out of its container (which must still exist) and stores it.
 * Never throws: a failed copy is noted on the job and audited, and must not hold up the job's end.
 * Skipped when this attempt's results are already saved (completion can be seen twice: events
 * stream and reconcile).
 */
export async function saveResults(
  ctx: Ctx,
  docker: DockerRuntime,
  job: Pick<Job, 'id' | 'userId' | 'attempt' | 'resultsPath'>,
  containerId: string,
  plan: Pick<Plan, 'name' | 'maxResultsMb' | 'maxResultsTotalMb'>,
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
    const kept = await ctx.db.transaction(async (tx) => {
      // The user's total: serialised per user (two jobs ending at once must not both fit in the
      // room left for one), counting every other job's saved tar.
      await tx.execute(sql`select pg_advisory_xact_lock(${RESULTS_LOCK}, hashtext(${job.userId}))`);
      const others = await userResultsBytes(tx, job.userId, job.id);
      const capTotal = plan.maxResultsTotalMb * MIB;
      if (others + a.bytes > capTotal) {
        const over = `Not kept: with these ${mb(a.bytes)} MB your saved results would total ${mb(others + a.bytes)} MB, above the ${plan.maxResultsTotalMb} MB cap (maxResultsTotalMb) of plan ${plan.name}; download or let older results expire first`;
        await tx.delete(jobResults).where(eq(jobResults.jobId, job.id));
        await tx.update(jobs).set({ resultsBytes: null, resultsTruncated: false, resultsNote: over }).where(eq(jobs.id, job.id));
        await audit(tx, { actor, action: 'job.results', targetType: 'job', targetId: job.id, at, success: false, error: over, details: { path, containerId, bytes: a.bytes, userBytes: others, capTotalMb: plan.maxResultsTotalMb } });
        return false;
      }
      const row = { jobId: job.id, attempt: job.attempt, path, tar: a.tar, bytes: a.bytes, files: a.files, truncated: a.truncated, savedAt: at };
      await tx.insert(jobResults).values(row).onConflictDoUpdate({ target: jobResults.jobId, set: row });
      await tx.update(jobs).set({ resultsBytes: a.bytes, resultsTruncated: a.truncated, resultsNote: msg }).where(eq(jobs.id, job.id));
      await audit(tx, { actor, action: 'job.results', targetType: 'job', targetId: job.id, at, reason: msg, details: { path, containerId, bytes: a.bytes, files: a.files, truncated: a.truncated, capMb: plan.maxResultsMb } });
      return true;
    });
    if (!kept) log.info({ job: job.id, user: job.userId }, 'results not kept: the user is at maxResultsTotalMb');
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

/** Advisory-lock class of the per-user results total (any constant not used elsewhere). */
const RESULTS_LOCK = 74_120;

const mb = (bytes: number) => (bytes / MIB).toFixed(1);

/** Bytes of saved results a user holds now, leaving out one job (the one being saved). */
export async function userResultsBytes(db: DbOrTx, userId: string, exceptJobId: string): Promise<number> {
  const [r] = await db
    .select({ n: sql<string>`coalesce(sum(${jobResults.bytes}), 0)` })
    .from(jobResults)
    .innerJoin(jobs, eq(jobs.id, jobResults.jobId))
    .where(and(eq(jobs.userId, userId), ne(jobResults.jobId, exceptJobId)));
  return Number(r?.n ?? 0);
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
