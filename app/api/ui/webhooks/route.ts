import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { loadWebhooks } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

/** ?webhook=<id>&status=pending|delivered|failed */
export const GET = uiRoute('viewer', ({ ctx, actor, url }) => loadWebhooks(ctx, actor, searchObject(url)));
