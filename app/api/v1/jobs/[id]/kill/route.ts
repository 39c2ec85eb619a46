import { jobToJson, killJob } from '@/server/domain/jobs';
import { jobApi, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/**
 * POST {force?, reason?} — operators (operator role), or the job's owner (a user key may kill its
 * own job; others' jobs are 404 to it). killJob checks both.
 */
export const POST = jobApi(async ({ req, ctx, actor, params }) => {
  const body = await readJson(req, { optional: true });
  return json(jobToJson(await killJob(ctx, actor, params.id, body)));
});
