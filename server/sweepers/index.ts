import type { Config } from '../config';
import type { Ctx } from '../context';

export interface SweeperHandle {
  stop(): Promise<void>;
}

/** Placeholder until the sweeper framework lands (issue: sweepers). */
export function startSweepers(_ctx: Ctx, _cfg: Config): SweeperHandle {
  return { stop: async () => {} };
}
