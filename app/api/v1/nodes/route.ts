import { listNodeDetails } from '@/server/domain/nodes';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET — every worker node (viewer and up): state, capacity, allocation, running jobs. */
export const GET = api(async ({ ctx, actor }) => json({ nodes: await listNodeDetails(ctx, actor) }));
