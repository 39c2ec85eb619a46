import { api, json } from '@/server/http';
import { listOrphans } from '@/server/sweepers/orphans';

export const dynamic = 'force-dynamic';

/** GET — viewers and up: orphaned containers, lost jobs and orphaned children, as the orphan sweeper sees them now. */
export const GET = api(async ({ ctx, actor }) => json(await listOrphans(ctx, actor)));
