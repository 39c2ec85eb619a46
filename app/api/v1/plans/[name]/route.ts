import { getPlan, planToJson, upsertPlan } from '@/server/domain/plans';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

export const GET = api<{ name: string }>(async ({ ctx, actor, params }) => json(planToJson(await getPlan(ctx, actor, params.name))));

/** PUT — create or update (admin). 201 when created. */
export const PUT = api<{ name: string }>(async ({ req, ctx, actor, params }) => {
  const body = await readJson(req);
  const r = await upsertPlan(ctx, actor, params.name, body);
  return json(planToJson(r.plan), r.created ? 201 : 200);
});
