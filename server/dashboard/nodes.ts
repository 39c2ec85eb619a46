import type { Ctx } from '../context';
import type { Actor } from '../domain/actor';
import { listNodeDetails } from '../domain/nodes';

/** The Nodes page's data (viewer and up): every node with capacity, allocation and state. */
export async function loadNodes(ctx: Ctx, actor: Actor) {
  return { generatedAt: ctx.clock.now().toISOString(), nodes: await listNodeDetails(ctx, actor) };
}
export type NodesData = Awaited<ReturnType<typeof loadNodes>>;
