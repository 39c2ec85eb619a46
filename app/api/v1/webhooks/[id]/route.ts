import { deleteWebhook, getWebhook, webhookToJson } from '@/server/domain/webhooks';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

export const GET = api<{ id: string }>(async ({ ctx, actor, params }) => json(webhookToJson(await getWebhook(ctx, actor, params.id))));

/** Deletes the subscription and its pending deliveries → 204. */
export const DELETE = api<{ id: string }>(async ({ ctx, actor, params }) => {
  await deleteWebhook(ctx, actor, params.id);
  return new Response(null, { status: 204 });
});
