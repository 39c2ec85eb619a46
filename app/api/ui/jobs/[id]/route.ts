import { uiRoute } from '@/server/auth/ui-route';
import { resolveJobId } from '@/server/domain/job-ids';
import { loadJobDetail } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute<{ id: string }>('viewer', async ({ ctx, actor, params }) => loadJobDetail(ctx, actor, await resolveJobId(ctx.db, actor, params.id)));
