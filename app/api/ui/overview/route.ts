import { uiRoute } from '@/server/auth/ui-route';
import { loadOverview } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor }) => loadOverview(ctx, actor));
