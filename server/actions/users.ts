'use server';

import { z } from 'zod';
import { createUser, updateUser } from '../domain/users';
import { action, passThroughObject } from './action';

const userId = z.uuid({ error: 'user id must be a UUID' });

/** Admin: change a user's plan and per-user overrides (null clears an override). */
export const updateUserAction = action(z.object({ id: userId, changes: passThroughObject('changes') }), 'admin', async (i, { ctx, actor }) => {
  const r = await updateUser(ctx, actor, i.id, i.changes);
  return { message: `User ${r.user.name} saved (plan ${r.plan.name})` };
});

/** Admin: create a user; its API key is returned once. */
export const createUserAction = action(z.object({ name: z.string(), plan: z.string() }), 'admin', async (i, { ctx, actor }) => {
  const r = await createUser(ctx, actor, { name: i.name, plan: i.plan });
  return { message: `User ${r.user.name} created`, data: { id: r.user.id, apiKey: r.apiKey } };
});
