'use server';

import { z } from 'zod';
import { CONTAINER_ID_RE, removeOrphanContainer } from '../domain/orphans';
import { isSweeperName, setSweeperDryRun, type SweeperName } from '../domain/sweeper-settings';
import { runSweeperNow } from '../sweepers/runner';
import { action, formBool } from './action';

const sweeper = z.string().refine(isSweeperName, 'unknown sweeper');

/** Admin: turn a sweeper's dry-run mode on or off (persisted in settings). */
export const setDryRunAction = action(z.object({ name: sweeper, dryRun: formBool }), 'admin', async (i, { ctx, actor }) => {
  await setSweeperDryRun(ctx, actor, i.name as SweeperName, i.dryRun);
  return { message: `Sweeper ${i.name}: dry-run ${i.dryRun ? 'on' : 'off'}` };
});

/** Operator: run one tick of a sweeper now. */
export const runSweeperNowAction = action(z.object({ name: sweeper }), 'operator', async (i, { ctx, actor }) => {
  const r = await runSweeperNow(ctx, actor, i.name as SweeperName);
  if (r.skipped) return { message: `Sweeper ${i.name} is running on another replica right now; nothing done here`, data: r };
  return { message: `Sweeper ${i.name}${r.dryRun ? ' (dry-run)' : ''}: examined ${r.examined}, acted ${r.acted}, errors ${r.errors} in ${r.ms} ms`, data: r };
});

/** Operator: remove one orphaned managed container now. */
export const removeOrphanAction = action(
  z.object({ containerId: z.string().regex(CONTAINER_ID_RE, 'containerId must be a container id') }),
  'operator',
  async (i, { ctx, actor }) => {
    await removeOrphanContainer(ctx, actor, i.containerId);
    return { message: `Container ${i.containerId.slice(0, 12)} removed` };
  },
);
