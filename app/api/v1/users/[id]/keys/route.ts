import { keyToJson, listKeys } from '@/server/domain/keys';
import { createUserKey } from '@/server/domain/users';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET — the user's keys `{id, prefix, createdAt, lastUsedAt, revokedAt, expiresAt}`, never the secret (admin, or the user's own key). */
export const GET = api<{ id: string }>(async ({ ctx, actor, params }) => {
  const keys = await listKeys(ctx, actor, { kind: 'user', id: params.id });
  return json({ keys: keys.map(keyToJson) });
});

/** POST `{expiresAt?}` — a new key for the user, shown once (admin). */
export const POST = api<{ id: string }>(async ({ req, ctx, actor, params }) => {
  const body = await readJson(req, { optional: true });
  return json(await createUserKey(ctx, actor, params.id, body), 201);
});
