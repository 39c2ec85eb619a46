import { uiRoute } from '@/server/auth/ui-route';
import { loadPlans } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor }) => loadPlans(ctx, actor));
