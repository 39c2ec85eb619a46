import { requireRole } from '@/server/domain/actor';
import { listPlans, planToJson } from '@/server/domain/plans';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET /api/v1/plans — every plan (viewer+). */
export const GET = api(async ({ ctx, actor }) => {
  requireRole(actor, 'viewer');
  return json({ plans: (await listPlans(ctx.db)).map(planToJson) });
});
