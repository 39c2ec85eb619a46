import { createKey, keyToJson, listKeys } from '@/server/domain/keys';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET — the operator's keys, never the secret (admin, or the operator's own key). */
export const GET = api<{ id: string }>(async ({ ctx, actor, params }) => {
  const keys = await listKeys(ctx, actor, { kind: 'operator', id: params.id });
  return json({ keys: keys.map(keyToJson) });
});

/** POST `{expiresAt?}` — a new key for the operator, shown once (admin). */
export const POST = api<{ id: string }>(async ({ req, ctx, actor, params }) => {
  const body = await readJson(req, { optional: true });
  const r = await createKey(ctx, actor, { kind: 'operator', id: params.id }, body);
  return json({ ...keyToJson(r.key), apiKey: r.apiKey }, 201);
});
