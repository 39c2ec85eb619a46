import { getJobResults } from '@/server/domain/jobs';
import { jobApi, resultsTarResponse } from '@/server/http';

export const dynamic = 'force-dynamic';

/** application/x-tar: what the job left under its resultsPath (kept until its TTL); 404 when none. */
export const GET = jobApi(async ({ ctx, actor, params }) => resultsTarResponse(await getJobResults(ctx, actor, params.id)));
