import { uiRoute } from '@/server/auth/ui-route';
import { loadClasses } from '@/server/dashboard/classes';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ ctx, actor }) => loadClasses(ctx, actor));
