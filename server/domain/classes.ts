import { asc, eq } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobClasses, type JobClass, type NewJobClass } from '../db/schema';
import { type Actor, requireRole } from './actor';
import { audit } from './audit';
import { AppError, invalid, notFound, parseInput } from './errors';
import { classFieldsSchema, classNameSchema, type ClassFieldsInput } from './schemas';

/**
 * Job classes ("job types": a "build", a "nightly-report"): named defaults that sit between a
 * job's own request and its user's plan — job → class → user override → plan → 300 s (see
 * limits.ts). A class may lower the plan's timeout cap, never raise it.
 *
 * Reads: operators (viewer and up) and user keys — a user picks a class by name when submitting,
 * so it may see what each one means. Writes: admins.
 */

export function classToJson(c: JobClass) {
  return {
    name: c.name,
    description: c.description,
    defaultTimeoutSeconds: c.defaultTimeoutS,
    maxTimeoutSeconds: c.maxTimeoutS,
    gracePeriodSeconds: c.gracePeriodS,
    warnBeforeSeconds: c.warnBeforeS,
    idleTimeoutSeconds: c.idleTimeoutS,
    ttlSucceededSeconds: c.ttlSucceededS,
    ttlFailedSeconds: c.ttlFailedS,
    ttlTimedOutSeconds: c.ttlTimedOutS,
    ttlKilledSeconds: c.ttlKilledS,
    ttlLostSeconds: c.ttlLostS,
    resultsPath: c.resultsPath,
    nodeSelector: c.nodeSelector ?? null,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}
export type ClassJson = ReturnType<typeof classToJson>;

const FIELD_MAP = {
  description: 'description',
  defaultTimeoutSeconds: 'defaultTimeoutS',
  maxTimeoutSeconds: 'maxTimeoutS',
  gracePeriodSeconds: 'gracePeriodS',
  warnBeforeSeconds: 'warnBeforeS',
  idleTimeoutSeconds: 'idleTimeoutS',
  ttlSucceededSeconds: 'ttlSucceededS',
  ttlFailedSeconds: 'ttlFailedS',
  ttlTimedOutSeconds: 'ttlTimedOutS',
  ttlKilledSeconds: 'ttlKilledS',
  ttlLostSeconds: 'ttlLostS',
  resultsPath: 'resultsPath',
  nodeSelector: 'nodeSelector',
} as const satisfies Record<keyof ClassFieldsInput, keyof NewJobClass>;

/** PUT replaces: every optional field the body leaves out is cleared (falls through to the plan). */
function toRow(input: ClassFieldsInput): Omit<NewJobClass, 'name'> {
  const out: Record<string, unknown> = {};
  for (const [k, col] of Object.entries(FIELD_MAP)) out[col] = input[k as keyof ClassFieldsInput] ?? null;
  return out as Omit<NewJobClass, 'name'>;
}

/** A class's own rule: its default may not pass its own cap (naming both). */
function checkClassConsistency(name: string, row: Pick<NewJobClass, 'defaultTimeoutS' | 'maxTimeoutS'>): void {
  if (row.maxTimeoutS != null && row.defaultTimeoutS > row.maxTimeoutS) {
    throw invalid(
      `class ${name}: defaultTimeoutSeconds (${row.defaultTimeoutS}) must not exceed its maxTimeoutSeconds (${row.maxTimeoutS})`,
      'defaultTimeoutSeconds',
      'class_exceeds_cap',
    );
  }
}

function checkReader(actor: Actor): void {
  if (actor.kind !== 'user') requireRole(actor, 'viewer');
}

function checkName(name: string): void {
  const n = classNameSchema.safeParse(name);
  if (!n.success) throw invalid(n.error.issues[0]!.message, 'name');
}

export async function getClassByName(db: DbOrTx, name: string): Promise<JobClass | null> {
  if (!classNameSchema.safeParse(name).success) return null;
  const [c] = await db.select().from(jobClasses).where(eq(jobClasses.name, name));
  return c ?? null;
}

/** GET /api/v1/classes */
export async function listClasses(ctx: Ctx, actor: Actor): Promise<JobClass[]> {
  checkReader(actor);
  return ctx.db.select().from(jobClasses).orderBy(asc(jobClasses.name));
}

/** GET /api/v1/classes/:name */
export async function getClass(ctx: Ctx, actor: Actor, name: string): Promise<JobClass> {
  checkReader(actor);
  const c = await getClassByName(ctx.db, name);
  if (!c) throw notFound('Class', name);
  return c;
}

/**
 * PUT /api/v1/classes/:name — create or replace (admin), audited with what changed. Jobs
 * already submitted keep the timeout they got; TTLs and warnings follow the class as it is when
 * they apply.
 */
export async function putClass(ctx: Ctx, actor: Actor, name: string, raw: unknown): Promise<{ cls: JobClass; created: boolean }> {
  requireRole(actor, 'admin');
  checkName(name);
  const input = parseInput(classFieldsSchema, raw);
  const row = toRow(input);
  checkClassConsistency(name, row);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [current] = await tx.select().from(jobClasses).where(eq(jobClasses.name, name)).for('update');
    if (!current) {
      // Two PUTs creating one class: the loser's insert does nothing and it retries as an update.
      const [created] = await tx.insert(jobClasses).values({ ...row, name, createdAt: now, updatedAt: now }).onConflictDoNothing({ target: jobClasses.name }).returning();
      if (!created) throw new AppError(409, 'conflict', `Class ${name} was created concurrently; try again`);
      await audit(tx, { actor, action: 'class.create', targetType: 'class', targetId: name, at: now, details: { fields: input } });
      return { cls: created, created: true };
    }
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    for (const [k, v] of Object.entries(row)) {
      const before = (current as Record<string, unknown>)[k];
      if (before !== v) changes[k] = { from: before, to: v };
    }
    if (Object.keys(changes).length === 0) return { cls: current, created: false };
    const [updated] = await tx.update(jobClasses).set({ ...row, updatedAt: now }).where(eq(jobClasses.id, current.id)).returning();
    await audit(tx, { actor, action: 'class.update', targetType: 'class', targetId: name, at: now, details: { changes } });
    return { cls: updated!, created: false };
  });
}

/**
 * DELETE /api/v1/classes/:name (admin). Jobs keep the class's name in their history; a live job
 * of a deleted class keeps its timeout and falls back to its plan for TTLs and warnings.
 */
export async function deleteClass(ctx: Ctx, actor: Actor, name: string): Promise<JobClass> {
  requireRole(actor, 'admin');
  checkName(name);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [gone] = await tx.delete(jobClasses).where(eq(jobClasses.name, name)).returning();
    if (!gone) throw notFound('Class', name);
    await audit(tx, { actor, action: 'class.delete', targetType: 'class', targetId: name, at: now, details: { was: classToJson(gone) } });
    return gone;
  });
}
