import { keyToJson, revokeKey } from '@/server/domain/keys';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** DELETE — revokes the key: refused from the next request on (admin, or the user's own key). Audited. */
export const DELETE = api<{ id: string; keyId: string }>(async ({ ctx, actor, params }) =>
  json(keyToJson(await revokeKey(ctx, actor, { kind: 'user', id: params.id }, params.keyId))),
);
