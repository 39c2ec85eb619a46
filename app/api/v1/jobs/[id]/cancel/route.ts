import { cancelJob, jobToJson } from '@/server/domain/jobs';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

export const POST = api<{ id: string }>(async ({ ctx, actor, params }) => json(jobToJson(await cancelJob(ctx, actor, params.id))));
