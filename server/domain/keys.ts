import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { apiKeys, operators, users, type ApiKey } from '../db/schema';
import { type Actor, hasRole, requireRole } from './actor';
import { audit } from './audit';
import { conflict, forbidden, invalid, notFound, parseInput } from './errors';
import { createKeySchema, isUuid } from './schemas';
import { newApiKey } from './secrets';

/**
 * API keys of users and operators: list (never the secret), create (optional expiry), revoke.
 * A revoked or expired key is refused by the very next request (domain/auth.ts reads the row on
 * every call; nothing caches it). Admins manage every key; a key's owner may list and revoke its
 * own (so a leaked key can be killed by whoever notices), but only an admin creates keys — a
 * stolen key that could mint new ones would make revocation pointless.
 */

export type KeyOwner = { kind: 'user'; id: string } | { kind: 'operator'; id: string };

export function keyToJson(k: ApiKey) {
  return {
    id: k.id,
    prefix: k.prefix,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    expiresAt: k.expiresAt?.toISOString() ?? null,
  };
}
export type KeyJson = ReturnType<typeof keyToJson>;

const ownerColumn = (o: KeyOwner) => (o.kind === 'user' ? apiKeys.userId : apiKeys.operatorId);
const isSelf = (actor: Actor, o: KeyOwner) => actor.kind === o.kind && actor.id === o.id;

/** The owner's label for audit rows and messages (user id / operator email); 404 when there is none. */
async function ownerTarget(db: DbOrTx, o: KeyOwner): Promise<string> {
  if (!isUuid(o.id)) throw notFound(o.kind === 'user' ? 'User' : 'Operator', o.id);
  if (o.kind === 'user') {
    const [u] = await db.select({ id: users.id }).from(users).where(eq(users.id, o.id));
    if (!u) throw notFound('User', o.id);
    return u.id;
  }
  const [op] = await db.select({ email: operators.email }).from(operators).where(eq(operators.id, o.id));
  if (!op) throw notFound('Operator', o.id);
  return op.email;
}

function mayManage(actor: Actor, o: KeyOwner): void {
  if (isSelf(actor, o)) return;
  if (actor.kind === 'user') throw notFound('User', o.id); // users cannot probe other users
  requireRole(actor, 'admin');
}

export async function listKeys(ctx: Ctx, actor: Actor, o: KeyOwner): Promise<ApiKey[]> {
  mayManage(actor, o);
  await ownerTarget(ctx.db, o);
  return ctx.db.select().from(apiKeys).where(eq(ownerColumn(o), o.id)).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
}

/** A new key (shown once, stored hashed); body `{expiresAt?}` — an ISO time in the future, at most 10 years out. */
export async function createKey(ctx: Ctx, actor: Actor, o: KeyOwner, raw: unknown = {}): Promise<{ apiKey: string; key: ApiKey }> {
  if (!hasRole(actor, 'admin')) throw actor.kind === 'user' ? forbidden('Only admins create API keys') : forbidden('This action needs the admin role');
  const input = parseInput(createKeySchema, raw ?? {});
  const now = ctx.clock.now();
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt <= now) throw invalid(`expiresAt ${input.expiresAt} is not in the future`, 'expiresAt');
  if (expiresAt && expiresAt.getTime() > now.getTime() + 10 * 365 * 86400_000) throw invalid('expiresAt must be at most 10 years from now', 'expiresAt');
  return ctx.db.transaction(async (tx) => {
    const target = await ownerTarget(tx, o);
    const k = newApiKey(o.kind);
    const [key] = await tx
      .insert(apiKeys)
      .values({ keyHash: k.hash, prefix: k.prefix, createdAt: now, expiresAt, ...(o.kind === 'user' ? { userId: o.id } : { operatorId: o.id }) })
      .returning();
    await audit(tx, {
      actor,
      action: `${o.kind}.key.create`,
      targetType: o.kind,
      targetId: target,
      at: now,
      details: { keyId: key!.id, prefix: k.prefix, expiresAt: expiresAt?.toISOString() ?? null },
    });
    return { apiKey: k.key, key: key! };
  });
}

/** Revokes one key of the owner: refused from the next request on. 404 unknown, 409 already revoked. */
export async function revokeKey(ctx: Ctx, actor: Actor, o: KeyOwner, keyId: string, reason?: string): Promise<ApiKey> {
  mayManage(actor, o);
  if (!isUuid(keyId)) throw notFound('API key', keyId);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const target = await ownerTarget(tx, o);
    const [row] = await tx
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.id, keyId), eq(ownerColumn(o), o.id), isNull(apiKeys.revokedAt)))
      .returning();
    if (!row) {
      const [cur] = await tx.select().from(apiKeys).where(and(eq(apiKeys.id, keyId), eq(ownerColumn(o), o.id)));
      if (!cur) throw notFound('API key', keyId);
      throw conflict(`API key ${cur.prefix}… was already revoked at ${cur.revokedAt!.toISOString()}`, 'already_revoked');
    }
    await audit(tx, {
      actor,
      action: `${o.kind}.key.revoke`,
      targetType: o.kind,
      targetId: target,
      reason: reason ?? null,
      at: now,
      details: { keyId: row.id, prefix: row.prefix, self: isSelf(actor, o) },
    });
    return row;
  });
}

/** The operator with this email, for the CLI (`operator key … --email E`). */
export async function operatorIdByEmail(db: DbOrTx, email: string): Promise<string> {
  const [op] = await db.select({ id: operators.id }).from(operators).where(eq(operators.email, email.trim().toLowerCase()));
  if (!op) throw notFound('Operator', email);
  return op.id;
}

/** The user with this name or id, for the CLI (`user key … --user U`). */
export async function userIdByNameOrId(db: DbOrTx, nameOrId: string): Promise<string> {
  const [u] = await db
    .select({ id: users.id })
    .from(users)
    .where(isUuid(nameOrId) ? eq(users.id, nameOrId) : eq(users.name, nameOrId));
  if (!u) throw notFound('User', nameOrId);
  return u.id;
}
