import { uiRoute } from '@/server/auth/ui-route';
import { loadJobLogs } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute<{ id: string }>('viewer', ({ ctx, actor, params }) => loadJobLogs(ctx, actor, params.id));
