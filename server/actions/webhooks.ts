'use server';

import { z } from 'zod';
import { deleteWebhook, redeliver } from '../domain/webhooks';
import { action } from './action';

const id = z.uuid({ error: 'id must be a UUID' });

/** Send a delivery again now (pending, with a fresh 24 h retry window; same delivery id). */
export const redeliverAction = action(z.object({ id }), 'operator', async (i, { ctx, actor }) => {
  await redeliver(ctx, actor, i.id);
  return { message: 'Delivery queued: it is sent again within a second or two' };
});

/** Delete a subscription and its pending deliveries. */
export const deleteWebhookAction = action(z.object({ id }), 'operator', async (i, { ctx, actor }) => {
  await deleteWebhook(ctx, actor, i.id);
  return { message: 'Webhook deleted' };
});
