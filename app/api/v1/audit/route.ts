import { auditToJson, listAudit } from '@/server/domain/audit-queries';
import { api, json, queryObject } from '@/server/http';

export const dynamic = 'force-dynamic';

export const GET = api(async ({ req, ctx, actor }) => {
  const r = await listAudit(ctx, actor, queryObject(req));
  return json({ events: r.events.map(auditToJson), nextCursor: r.nextCursor });
});
