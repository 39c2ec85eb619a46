import { listNodesAndCluster } from '@/server/domain/nodes';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET — every worker node (viewer and up): state, capacity, allocation, running jobs; on Kubernetes also the cluster's nodes. */
export const GET = api(async ({ ctx, actor }) => json(await listNodesAndCluster(ctx, actor)));
