import { requireRole } from '@/server/domain/actor';
import { notFound } from '@/server/domain/errors';
import { getUserWithPlan, updateUser, userToJson } from '@/server/domain/users';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

export const GET = api<{ id: string }>(async ({ ctx, actor, params }) => {
  requireRole(actor, 'viewer');
  const r = await getUserWithPlan(ctx.db, params.id);
  if (!r) throw notFound('User', params.id);
  return json(userToJson(r.user, r.plan));
});

/** PUT {plan?, <override>: number|null} — admin. */
export const PUT = api<{ id: string }>(async ({ req, ctx, actor, params }) => {
  const body = await readJson(req);
  const r = await updateUser(ctx, actor, params.id, body);
  return json(userToJson(r.user, r.plan));
});
