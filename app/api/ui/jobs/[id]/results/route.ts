import { uiRoute } from '@/server/auth/ui-route';
import { resolveJobId } from '@/server/domain/job-ids';
import { getJobResults } from '@/server/domain/jobs';
import { resultsTarResponse } from '@/server/http';

export const dynamic = 'force-dynamic';

/** The Job page's download link (session cookie). */
export const GET = uiRoute<{ id: string }>('viewer', async ({ ctx, actor, params }) => resultsTarResponse(await getJobResults(ctx, actor, await resolveJobId(ctx.db, actor, params.id))));
