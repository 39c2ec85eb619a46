import { requireRole } from '@/server/domain/actor';
import { jobToJson, suspendJobTimeout, zodFail } from '@/server/domain/jobs';
import { suspendJobSchema } from '@/server/domain/schemas';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** POST {suspended: boolean, reason?} — admins: suspend or resume a job's timeout (audited). */
export const POST = api<{ id: string }>(async ({ req, ctx, actor, params }) => {
  requireRole(actor, 'admin');
  const p = suspendJobSchema.safeParse(await readJson(req));
  if (!p.success) throw zodFail(p.error.issues);
  return json(jobToJson(await suspendJobTimeout(ctx, actor, params.id, p.data.suspended, p.data.reason)));
});
