import { uiRoute } from '@/server/auth/ui-route';
import { loadSweepers } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor }) => loadSweepers(ctx, actor));
