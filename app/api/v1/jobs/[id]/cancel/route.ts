import { cancelJob, jobToJson } from '@/server/domain/jobs';
import { jobApi, json } from '@/server/http';

export const dynamic = 'force-dynamic';

export const POST = jobApi(async ({ ctx, actor, params }) => json(jobToJson(await cancelJob(ctx, actor, params.id))));
