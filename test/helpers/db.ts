import crypto from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { connect, type Database } from '../../server/db/client';

/** A fresh database cloned from the migrated template; drop it with .drop(). */
export async function createTestDatabase(): Promise<Database & { drop: () => Promise<void> }> {
  const url = inject('pgUrl');
  const name = `t_${crypto.randomBytes(6).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template warden_template`);
  await admin.end();
  const dbUrl = url.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const database = connect(dbUrl, { max: 10 });
  return {
    ...database,
    drop: async () => {
      await database.close();
      const a = postgres(url, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/**
 * Closes the app's own pool (`globalThis.__wardenDb`, opened by `getDatabase()` when a test calls
 * a route or an action) and forgets it, so the next file's first call opens a fresh one.
 */
export async function closeAppPool(): Promise<void> {
  const g = globalThis as unknown as { __wardenDb?: Pick<Database, 'close'> };
  const pool = g.__wardenDb;
  g.__wardenDb = undefined;
  await pool?.close();
}
