import { uiRoute } from '@/server/auth/ui-route';
import { loadNodes } from '@/server/dashboard/nodes';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor }) => loadNodes(ctx, actor));
