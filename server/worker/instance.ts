import crypto from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import type { Db } from '../db/client';
import { log } from '../log';

/**
 * This worker process's identity for the claims it makes (jobs.claim_owner), and PostgreSQL's
 * word on whether another process is still alive: each worker holds a session-level advisory lock
 * on its instance id on a connection of its own, for as long as it lives. A process that dies —
 * SIGKILL, a crashed host — loses its session and with it the lock, at once (the kernel closes
 * the socket; PostgreSQL ends the session). So a worker restarted after a crash settles the
 * starts its predecessor left half-done straight away, instead of waiting out their lease, while
 * a live replica's starts are never mistaken for abandoned ones.
 */

export const INSTANCE_LOCK_CLASS = 7301200;

/** This process's instance id (one per process: a worker restarted is a new instance). */
export const PROCESS_INSTANCE: string = ((globalThis as unknown as { __wardenInstance?: string }).__wardenInstance ??= crypto.randomUUID());

export interface InstanceLock {
  /** Re-takes the lock if its session was lost (a database restart); call with the heartbeat. */
  keep(): Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes the instance lock on a connection of its own (a one-connection client, not a reserved
 * pool connection: after a database restart a reserved connection is dead for good, while this
 * client reconnects on its next statement, and keep() takes the lock again in the new session).
 */
export async function holdInstanceLock(url: string, instance = PROCESS_INSTANCE): Promise<InstanceLock> {
  const client = postgres(url, { max: 1, onnotice: () => {}, idle_timeout: 0, connect_timeout: 10, connection: { application_name: 'warden-instance' } });
  // Takes the lock unless this session already holds it (a session lock taken twice is held twice).
  const take = () => client`
    select pg_try_advisory_lock(${INSTANCE_LOCK_CLASS}::int, hashtext(${instance})) as ok
    where not exists (
      select 1 from pg_locks
      where locktype = 'advisory' and pid = pg_backend_pid() and objsubid = 2
        and classid = ${INSTANCE_LOCK_CLASS}::int::oid and objid = hashtext(${instance})::oid)`;
  try {
    await take();
  } catch (e) {
    // No session (a full database, waitWhileDatabaseFull tries again): close this client, or each try would leave one behind.
    await client.end({ timeout: 0 }).catch(() => {});
    throw e;
  }
  return {
    async keep() {
      await take().catch((e) => log.warn({ err: String(e) }, 'could not re-take the instance lock; retrying with the next heartbeat'));
    },
    async release() {
      await client`select pg_advisory_unlock_all()`.catch(() => {});
      await client.end({ timeout: 5 }).catch(() => {});
    },
  };
}

/** Of these instance ids, the ones whose process is gone (nobody holds their lock). */
export async function deadInstances(db: Db, ids: readonly string[]): Promise<Set<string>> {
  const dead = new Set<string>();
  for (const id of new Set(ids)) {
    // A transaction-level try: if it is free we get it, and give it back at commit.
    const free = await db.transaction(async (tx) => {
      const [r] = await tx.execute<{ ok: boolean }>(sql`select pg_try_advisory_xact_lock(${INSTANCE_LOCK_CLASS}::int, hashtext(${id})) as ok`);
      return !!r?.ok;
    });
    if (free) dead.add(id);
  }
  return dead;
}
