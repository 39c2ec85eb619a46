import { uiRoute } from '@/server/auth/ui-route';
import { loadJobDetail } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute<{ id: string }>('viewer', ({ ctx, actor, params }) => loadJobDetail(ctx, actor, params.id));
