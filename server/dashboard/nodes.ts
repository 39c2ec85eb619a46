import type { Ctx } from '../context';
import type { Actor } from '../domain/actor';
import { listNodesAndCluster } from '../domain/nodes';

/** The Nodes page's data (viewer and up): every node with capacity, allocation and state; on Kubernetes the cluster's nodes too. */
export async function loadNodes(ctx: Ctx, actor: Actor) {
  return { generatedAt: ctx.clock.now().toISOString(), ...(await listNodesAndCluster(ctx, actor)) };
}
export type NodesData = Awaited<ReturnType<typeof loadNodes>>;
