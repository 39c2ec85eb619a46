import { getJob, jobToJson } from '@/server/domain/jobs';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

export const GET = api<{ id: string }>(async ({ ctx, actor, params }) => json(jobToJson(await getJob(ctx, actor, params.id))));
