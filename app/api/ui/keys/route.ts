import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { loadKeys } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('admin', ({ ctx, actor, url }) => loadKeys(ctx, actor, searchObject(url)));
