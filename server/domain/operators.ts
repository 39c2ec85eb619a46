import { asc, eq, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { operators, type Operator, type Role } from '../db/schema';
import { type Actor, requireRole } from './actor';
import { audit } from './audit';
import { conflict, notFound, parseInput } from './errors';
import { createOperatorSchema } from './schemas';
import { createKey, operatorIdByEmail } from './keys';
import { hashPassword, randomPassword } from './secrets';

export function operatorToJson(o: Operator) {
  return { id: o.id, email: o.email, role: o.role, disabled: o.disabled, createdAt: o.createdAt.toISOString() };
}

export async function listOperators(ctx: Ctx, actor: Actor): Promise<Operator[]> {
  requireRole(actor, 'admin');
  return ctx.db.select().from(operators).orderBy(asc(operators.email));
}

/** Creates an operator; when no password is given one is generated and returned (shown once). */
export async function createOperator(
  ctx: Ctx,
  actor: Actor,
  raw: unknown,
): Promise<{ operator: Operator; password: string | null }> {
  requireRole(actor, 'admin');
  const input = parseInput(createOperatorSchema, raw);
  const generated = input.password ? null : randomPassword();
  const passwordHash = await hashPassword(input.password ?? generated!);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [op] = await tx
      .insert(operators)
      .values({ email: input.email, role: input.role, passwordHash, createdAt: now })
      .onConflictDoNothing({ target: operators.email })
      .returning();
    if (!op) throw conflict(`An operator with email ${input.email} already exists`, 'already_exists');
    await audit(tx, { actor, action: 'operator.create', targetType: 'operator', targetId: op.email, at: now, details: { role: op.role } });
    return { operator: op, password: generated };
  });
}

export async function setOperatorRole(ctx: Ctx, actor: Actor, id: string, role: Role, disabled?: boolean): Promise<Operator> {
  requireRole(actor, 'admin');
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [cur] = await tx.select().from(operators).where(eq(operators.id, id)).for('update');
    if (!cur) throw notFound('Operator', id);
    if (actor.kind === 'operator' && actor.id === id && (role !== 'admin' || disabled)) {
      throw conflict('You cannot demote or disable yourself; ask another admin', 'self_demotion');
    }
    const [op] = await tx
      .update(operators)
      .set({ role, ...(disabled !== undefined ? { disabled } : {}) })
      .where(eq(operators.id, id))
      .returning();
    await audit(tx, {
      actor,
      action: 'operator.update',
      targetType: 'operator',
      targetId: cur.email,
      at: now,
      details: { role: { from: cur.role, to: role }, ...(disabled !== undefined ? { disabled: { from: cur.disabled, to: disabled } } : {}) },
    });
    return op!;
  });
}

/** A new API key for an operator (CLI `operator key`); shown once, stored hashed; body `{expiresAt?}`. */
export async function createOperatorKey(ctx: Ctx, actor: Actor, email: string, raw: unknown = {}): Promise<{ apiKey: string; id: string; prefix: string; expiresAt: string | null }> {
  requireRole(actor, 'admin');
  const id = await operatorIdByEmail(ctx.db, email);
  const r = await createKey(ctx, actor, { kind: 'operator', id }, raw);
  return { apiKey: r.apiKey, id: r.key.id, prefix: r.key.prefix, expiresAt: r.key.expiresAt?.toISOString() ?? null };
}

/**
 * First start with no operator: create an admin from WARDEN_ADMIN_EMAIL/PASSWORD, or a generated
 * one whose password is printed once. Safe on replicas starting together (unique email, advisory lock).
 */
export async function ensureBootstrapAdmin(
  ctx: Ctx,
  opts: { email?: string; password?: string },
): Promise<{ email: string; password: string | null } | null> {
  return ctx.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7301002)`);
    const [r] = await tx.select({ n: sql<number>`count(*)::int` }).from(operators);
    if ((r?.n ?? 0) > 0) return null;
    const email = opts.email ?? 'admin@warden.local';
    const password = opts.password ?? randomPassword();
    const now = ctx.clock.now();
    await tx.insert(operators).values({ email, role: 'admin', passwordHash: await hashPassword(password), createdAt: now });
    await audit(tx, { actor: 'system', action: 'operator.bootstrap', targetType: 'operator', targetId: email, at: now });
    return { email, password: opts.password ? null : password };
  });
}
