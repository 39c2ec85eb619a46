'use server';

import { z } from 'zod';
import { createKey, revokeKey } from '../domain/keys';
import { action } from './action';

/** Keys of users and operators from the dashboard (admin); the same domain functions as the API and CLI. */
const owner = z.object({
  ownerKind: z.enum(['user', 'operator'], { error: 'ownerKind must be user or operator' }),
  ownerId: z.uuid({ error: 'owner id must be a UUID' }),
});

/** A new key, shown once; `expiresInDays` (1-3650) or none for a key that does not expire. */
export const createKeyAction = action(
  owner.extend({ expiresInDays: z.coerce.number({ error: 'expiresInDays must be a number' }).int('expiresInDays must be a whole number').min(1, 'expiresInDays must be at least 1').max(3650, 'expiresInDays must be at most 3650').optional() }),
  'admin',
  async (i, { ctx, actor }) => {
    const expiresAt = i.expiresInDays ? new Date(ctx.clock.now().getTime() + i.expiresInDays * 86400_000).toISOString() : undefined;
    const r = await createKey(ctx, actor, { kind: i.ownerKind, id: i.ownerId }, expiresAt ? { expiresAt } : {});
    return { message: `New API key created (${r.key.prefix}…)`, data: { apiKey: r.apiKey, id: r.key.id } };
  },
);

/** Revoke one key: every request with it is refused from now on. */
export const revokeKeyAction = action(
  owner.extend({ keyId: z.uuid({ error: 'key id must be a UUID' }), reason: z.string().trim().max(500, 'reason must be at most 500 characters').optional() }),
  'admin',
  async (i, { ctx, actor }) => {
    const k = await revokeKey(ctx, actor, { kind: i.ownerKind, id: i.ownerId }, i.keyId, i.reason || undefined);
    return { message: `API key ${k.prefix}… revoked`, data: { id: k.id } };
  },
);
