import { uiRoute } from '@/server/auth/ui-route';
import { loadOrphans } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor }) => loadOrphans(ctx, actor));
