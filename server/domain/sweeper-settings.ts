import { desc, eq } from 'drizzle-orm';
import { config, type Config } from '../config';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { settings, sweeperRuns, type SweeperRun } from '../db/schema';
import { type Actor, actorLabel, requireRole } from './actor';
import { audit } from './audit';
import { invalid } from './errors';

/**
 * The sweepers as operators see and steer them: their names, who they act as, how often they
 * run, their dry-run switches (settings table; WARDEN_DRY_RUN=on forces all) and their last runs.
 * The sweepers themselves (server/sweepers/) read these; the dashboard and API change them.
 */
export type SweeperName = 'timeout' | 'ttl' | 'orphans';
export const SWEEPER_NAMES: SweeperName[] = ['timeout', 'ttl', 'orphans'];

export const SWEEPER_ACTOR = {
  timeout: 'sweeper:timeout',
  ttl: 'sweeper:ttl',
  orphans: 'sweeper:orphan',
} as const satisfies Record<SweeperName, string>;

export function isSweeperName(name: string): name is SweeperName {
  return (SWEEPER_NAMES as string[]).includes(name);
}

export function checkSweeperName(name: string): asserts name is SweeperName {
  if (!isSweeperName(name)) throw invalid(`Unknown sweeper "${name}" (expected ${SWEEPER_NAMES.join(', ')})`, 'name');
}

/** The sweeper's period in seconds, from its setting. */
export function everySeconds(cfg: Pick<Config, 'WARDEN_TIMEOUT_SWEEP_S' | 'WARDEN_TTL_SWEEP_S' | 'WARDEN_ORPHAN_SWEEP_S'>, name: SweeperName): number {
  return name === 'timeout' ? cfg.WARDEN_TIMEOUT_SWEEP_S : name === 'ttl' ? cfg.WARDEN_TTL_SWEEP_S : cfg.WARDEN_ORPHAN_SWEEP_S;
}

export function dryRunKey(name: SweeperName): string {
  return `sweeper.${name}.dryRun`;
}

export async function resolveDryRun(db: DbOrTx, name: SweeperName, envDryRun: boolean): Promise<{ dryRun: boolean; source: 'env' | 'setting' | 'off' }> {
  if (envDryRun) return { dryRun: true, source: 'env' };
  const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, dryRunKey(name)));
  return row?.value === true ? { dryRun: true, source: 'setting' } : { dryRun: false, source: 'off' };
}

export interface SweeperInfo {
  name: SweeperName;
  everySeconds: number;
  dryRun: boolean;
  dryRunSource: 'env' | 'setting' | 'off';
  lastRuns: SweeperRun[];
}

/** Schedule, dry-run state and the last runs of each sweeper (any node), newest first. */
export async function sweeperStatus(ctx: Ctx): Promise<SweeperInfo[]> {
  const cfg = config();
  return Promise.all(
    SWEEPER_NAMES.map(async (name) => {
      const dr = await resolveDryRun(ctx.db, name, cfg.WARDEN_DRY_RUN);
      const lastRuns = await ctx.db.select().from(sweeperRuns).where(eq(sweeperRuns.sweeper, name)).orderBy(desc(sweeperRuns.startedAt)).limit(10);
      return { name, everySeconds: everySeconds(cfg, name), dryRun: dr.dryRun, dryRunSource: dr.source, lastRuns };
    }),
  );
}

/** Admin only. Persists in the settings table (key `sweeper.<name>.dryRun`); WARDEN_DRY_RUN=on forces dry-run for all. */
export async function setSweeperDryRun(ctx: Ctx, actor: Actor, name: SweeperName, dryRun: boolean): Promise<void> {
  requireRole(actor, 'admin');
  checkSweeperName(name);
  if (typeof dryRun !== 'boolean') throw invalid('dryRun must be true or false', 'dryRun');
  const now = ctx.clock.now();
  const key = dryRunKey(name);
  const who = actorLabel(actor);
  await ctx.db.transaction(async (tx) => {
    await tx
      .insert(settings)
      .values({ key, value: dryRun, updatedAt: now, updatedBy: who })
      .onConflictDoUpdate({ target: settings.key, set: { value: dryRun, updatedAt: now, updatedBy: who } });
    await audit(tx, { actor, action: 'sweeper.dry_run', targetType: 'setting', targetId: key, at: now, details: { sweeper: name, dryRun, forcedByEnv: config().WARDEN_DRY_RUN } });
  });
}
