import crypto from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { settings } from '../db/schema';

/**
 * This installation's id: made at first boot, kept in the database (settings row
 * `installation.id`), and put on every container as `warden.installation`. Two Wardens sharing a
 * Docker engine (a staging install, a test suite) have different databases, so different ids,
 * and each treats the other's containers as foreign: never listed as orphans, never signalled,
 * never removed. The id belongs to the database, not the process, so every replica, the CLI and
 * a restored backup agree on it.
 */
export const INSTALLATION_KEY = 'installation.id';

export async function ensureInstallation(db: DbOrTx): Promise<string> {
  // Insert-if-absent then read: two replicas booting at once end up with the same id.
  await db
    .insert(settings)
    .values({ key: INSTALLATION_KEY, value: crypto.randomUUID(), updatedBy: 'system' })
    .onConflictDoNothing({ target: settings.key });
  const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, INSTALLATION_KEY));
  const id = row?.value;
  if (typeof id !== 'string' || !id) throw new Error(`settings row ${INSTALLATION_KEY} is missing or not a string`);
  return id;
}

/** The database's clock (`select now()`), for DbClock. */
export async function databaseNow(db: DbOrTx): Promise<Date> {
  const [r] = await db.execute<{ now: string | Date }>(sql`select now() as now`);
  return new Date(r!.now);
}
