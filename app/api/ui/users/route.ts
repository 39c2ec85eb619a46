import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { loadUsers } from '@/server/db/queries/views';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor, url }) => loadUsers(ctx, actor, searchObject(url)));
