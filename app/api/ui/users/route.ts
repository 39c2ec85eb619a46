import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { loadUsers } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor, url }) => loadUsers(ctx, actor, searchObject(url)));
