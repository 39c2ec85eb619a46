import { uiRoute } from '@/server/auth/ui-route';
import { loadOperators } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('admin', ({ ctx, actor }) => loadOperators(ctx, actor));
