import { listDeliveries } from '@/server/domain/webhooks';
import { api, json, queryObject } from '@/server/http';

export const dynamic = 'force-dynamic';

/** ?status=pending|delivered|failed&limit=&cursor= — newest first. */
export const GET = api<{ id: string }>(async ({ req, ctx, actor, params }) => {
  const r = await listDeliveries(ctx, actor, params.id, queryObject(req));
  return json({ deliveries: r.deliveries, nextCursor: r.nextCursor });
});
