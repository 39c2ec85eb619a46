import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { loadJobs } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

/** ?tab=running|queued|timed_out|lost|finished&q=&user=&status=&sort=&dir=&page=&limit= */
export const GET = uiRoute('viewer', ({ ctx, actor, url }) => loadJobs(ctx, actor, searchObject(url)));
