import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { loadAudit } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

/** ?actor=&action=&job=&q=&cursor= */
export const GET = uiRoute('viewer', ({ ctx, actor, url }) => loadAudit(ctx, actor, searchObject(url)));
