import { and, eq, isNull } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { apiKeys, operators, users } from '../db/schema';
import type { Actor } from './actor';
import { AppError } from './errors';
import { sha256 } from './secrets';

/** Resolves `Authorization: Bearer <key>` to an actor; 401 for a missing, malformed or unknown key. */
export async function authenticateBearer(db: DbOrTx, header: string | null): Promise<Actor> {
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
  if (!row) throw new AppError(401, 'unauthorized', 'Invalid or revoked API key');
  if (row.operator) {
    if (row.operator.disabled) throw new AppError(401, 'unauthorized', 'This operator is disabled');
    return { kind: 'operator', id: row.operator.id, email: row.operator.email, role: row.operator.role };
  }
  if (row.user) return { kind: 'user', id: row.user.id, name: row.user.name };
  throw new AppError(401, 'unauthorized', 'Invalid or revoked API key');
}
