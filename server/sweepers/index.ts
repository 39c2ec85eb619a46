import type { Config } from '../config';
import type { Ctx } from '../context';
import type { SweeperRun } from '../db/schema';
import type { Actor } from '../domain/actor';

/**
 * Public surface of the sweepers (used by the worker, the API and the dashboard).
 * SIGNATURES ARE A CONTRACT between the worker, API and dashboard: keep them.
 */
export type SweeperName = 'timeout' | 'ttl' | 'orphans';
export const SWEEPER_NAMES: SweeperName[] = ['timeout', 'ttl', 'orphans'];

export interface SweepResult {
  sweeper: SweeperName;
  examined: number;
  acted: number;
  errors: number;
  ms: number;
  dryRun: boolean;
  /** What was (or, in dry-run, would have been) done. */
  planned: { kind: string; jobId?: string; containerId?: string; detail?: string }[];
  /** true when another replica held the lock and this tick did nothing. */
  skipped?: boolean;
}

export interface SweeperInfo {
  name: SweeperName;
  everySeconds: number;
  dryRun: boolean;
  dryRunSource: 'env' | 'setting' | 'off';
  lastRuns: SweeperRun[];
}

export interface OrphanReport {
  dockerOk: boolean;
  containers: { id: string; name: string; jobId: string | null; attempt: string | null; node: string | null; reason: string; createdAt: string; ageSeconds: number; removableAt: string }[];
  lostJobs: { jobId: string; userId: string; name: string | null; status: string; containerId: string | null; node: string | null; reason: string }[];
  orphanedChildren: { jobId: string; parentId: string; parentStatus: string }[];
}

export interface SweeperHandle {
  stop(): Promise<void>;
}

const notYet = () => new Error('sweepers not implemented yet');

export function startSweepers(_ctx: Ctx, _cfg: Config): SweeperHandle {
  return { stop: async () => {} };
}
export async function sweeperStatus(_ctx: Ctx): Promise<SweeperInfo[]> {
  throw notYet();
}
/** Admin only. Persists in the settings table (key `sweeper.<name>.dryRun`); WARDEN_DRY_RUN=on forces dry-run for all. */
export async function setSweeperDryRun(_ctx: Ctx, _actor: Actor, _name: SweeperName, _dryRun: boolean): Promise<void> {
  throw notYet();
}
/** Operator or above. Runs one tick now (under the same advisory lock), recorded in sweeper_runs. */
export async function runSweeperNow(_ctx: Ctx, _actor: Actor, _name: SweeperName): Promise<SweepResult> {
  throw notYet();
}
/** What the orphan sweeper sees now (viewer or above). */
export async function listOrphans(_ctx: Ctx, _actor: Actor): Promise<OrphanReport> {
  throw notYet();
}
/** Operator or above: remove one orphaned managed container now (re-inspected first; unlabelled containers refused). */
export async function removeOrphanContainer(_ctx: Ctx, _actor: Actor, _containerId: string): Promise<void> {
  throw notYet();
}
