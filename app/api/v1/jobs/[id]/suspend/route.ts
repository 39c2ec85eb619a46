import { requireRole } from '@/server/domain/actor';
import { parseInput } from '@/server/domain/errors';
import { jobToJson, suspendJobTimeout } from '@/server/domain/jobs';
import { suspendJobSchema } from '@/server/domain/schemas';
import { jobApi, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** POST {suspended: boolean, reason?} — admins: suspend or resume a job's timeout (audited). */
export const POST = jobApi(async ({ req, ctx, actor, params }) => {
  requireRole(actor, 'admin');
  const p = parseInput(suspendJobSchema, await readJson(req));
  return json(jobToJson(await suspendJobTimeout(ctx, actor, params.id, p.suspended, p.reason)));
});
