import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { exportJobsCsv } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

/** The Jobs view's current filter as CSV: same ?tab=&q=&user=&status=&sort=&dir=&warned= as /api/ui/jobs, at most CSV_MAX_ROWS rows, streamed. */
export const GET = uiRoute('viewer', async ({ ctx, actor, url }) => exportJobsCsv(ctx, actor, searchObject(url)));
