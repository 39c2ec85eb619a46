import { extendJob, jobToJson } from '@/server/domain/jobs';
import { jobApi, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** POST {seconds, reason?, overrideCap?} — operators, or the job's owner (user key) within the cap; override: admins. */
export const POST = jobApi(async ({ req, ctx, actor, params }) => {
  const body = await readJson(req);
  return json(jobToJson(await extendJob(ctx, actor, params.id, body)));
});
