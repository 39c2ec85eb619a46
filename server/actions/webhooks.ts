'use server';

import { z } from 'zod';
import { createWebhook, deleteWebhook, pingWebhook, redeliver } from '../domain/webhooks';
import { action } from './action';

const id = z.uuid({ error: 'id must be a UUID' });

/** Send a delivery again now (pending, with a fresh 24 h retry window; same delivery id). */
export const redeliverAction = action(z.object({ id }), 'operator', async (i, { ctx, actor }) => {
  await redeliver(ctx, actor, i.id);
  return { message: 'Delivery queued: it is sent again within a second or two' };
});

/** Send a test ping (a signed `webhook.test`, delivered and retried like any event). */
export const pingWebhookAction = action(z.object({ id }), 'operator', async (i, { ctx, actor }) => {
  await pingWebhook(ctx, actor, i.id);
  return { message: 'Test ping queued: it shows under Attempts within a second or two' };
});

/** Delete a subscription and its pending deliveries. */
export const deleteWebhookAction = action(z.object({ id }), 'operator', async (i, { ctx, actor }) => {
  await deleteWebhook(ctx, actor, i.id);
  return { message: 'Webhook deleted' };
});

/**
 * Subscribe a URL to job events (every job's, as an operator). The secret that signs deliveries
 * comes back once, in this answer, for the dialog to show with a copy button; never again.
 */
export const createWebhookAction = action(z.object({ url: z.string().trim().min(1, 'Enter the URL to send events to').max(2048, 'url must be at most 2048 characters') }), 'operator', async (i, { ctx, actor }) => {
  const { webhook, secret } = await createWebhook(ctx, actor, { url: i.url });
  return { message: 'Webhook created', data: { id: webhook.id, url: webhook.url, secret } };
});
