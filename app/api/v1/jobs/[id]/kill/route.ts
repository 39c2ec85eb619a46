import { requireRole } from '@/server/domain/actor';
import { jobToJson, killJob } from '@/server/domain/jobs';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** POST {force?, reason?} — operators. */
export const POST = api<{ id: string }>(async ({ req, ctx, actor, params }) => {
  requireRole(actor, 'operator');
  const body = await readJson(req, { optional: true });
  return json(jobToJson(await killJob(ctx, actor, params.id, body)));
});
