import { createUser, listUsers, userToJson } from '@/server/domain/users';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

export const GET = api(async ({ ctx, actor }) => {
  const rows = await listUsers(ctx, actor);
  return json({
    users: rows.map((r) => ({ ...userToJson(r.user, r.plan), running: r.running, queued: r.queued, usageSecondsThisMonth: r.usageSeconds })),
  });
});

/** POST {name, plan} → the user with a fresh apiKey (shown once). */
export const POST = api(async ({ req, ctx, actor }) => {
  const body = await readJson(req);
  const r = await createUser(ctx, actor, body);
  return json({ ...userToJson(r.user, r.plan), apiKey: r.apiKey }, 201);
});
