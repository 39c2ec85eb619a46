import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { apiKeys, operators, users } from '../db/schema';
import type { Actor } from './actor';
import { AppError } from './errors';
import { sha256 } from './secrets';

/** lastUsedAt is written at most this often per key, so authentication stays one indexed read. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * A well-formed key that matches no live key: never issued, revoked, or its owner deleted. Its own
 * code, so a client can tell "fix the header" (unauthorized) from "get a new key" (unknown_key).
 */
const unknownKey = () => new AppError(401, 'unknown_key', 'This API key is not valid: it may have been revoked');

/**
 * Resolves `Authorization: Bearer <key>` to an actor; 401 for a missing, malformed, unknown,
 * revoked or expired key. The key row is read on every request (no cache), so a revocation is
 * refused from the next request on.
 */
export async function authenticateBearer(db: DbOrTx, header: string | null, now: Date = new Date()): Promise<Actor> {
  if (!header) throw new AppError(401, 'unauthorized', 'Missing Authorization header: send "Authorization: Bearer <api key>"');
  const m = /^Bearer\s+(\S{10,200})\s*$/i.exec(header);
  if (!m) throw new AppError(401, 'unauthorized', 'Malformed Authorization header: expected "Bearer <api key>"');
  const hash = sha256(m[1]!);
  const [row] = await db
    .select({ key: apiKeys, user: users, operator: operators })
    .from(apiKeys)
    .leftJoin(users, eq(users.id, apiKeys.userId))
    .leftJoin(operators, eq(operators.id, apiKeys.operatorId))
    .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)));
  if (!row) throw unknownKey();
  if (row.key.expiresAt && row.key.expiresAt <= now) {
    throw new AppError(401, 'unauthorized', `This API key expired at ${row.key.expiresAt.toISOString()}`);
  }
  if (!row.key.lastUsedAt || now.getTime() - row.key.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    // Conditional, so concurrent requests of one key write once per minute at most.
    const stale = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    await db
      .update(apiKeys)
      .set({ lastUsedAt: now })
      .where(and(eq(apiKeys.id, row.key.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, stale))));
  }
  if (row.operator) {
    if (row.operator.disabled) throw new AppError(401, 'unauthorized', 'This operator is disabled');
    return { kind: 'operator', id: row.operator.id, email: row.operator.email, role: row.operator.role };
  }
  if (row.user) return { kind: 'user', id: row.user.id, name: row.user.name };
  throw unknownKey();
}
