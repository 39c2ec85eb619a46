import { createWebhook, listWebhooks, webhookToJson } from '@/server/domain/webhooks';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** The caller's subscriptions (user key: its own; operator keys: all). */
export const GET = api(async ({ ctx, actor }) => json({ webhooks: (await listWebhooks(ctx, actor)).map(webhookToJson) }));

/** POST {url, events?, secret?, userId?} → 201 with the secret (shown once). */
export const POST = api(async ({ req, ctx, actor }) => {
  const body = await readJson(req);
  const { webhook, secret } = await createWebhook(ctx, actor, body);
  return json({ ...webhookToJson(webhook), secret }, 201, { location: `/api/v1/webhooks/${webhook.id}` });
});
