import { pingWebhook } from '@/server/domain/webhooks';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** Queues a signed `webhook.test` delivery to this subscription → 202; 429 ping_pending while one is pending. */
export const POST = api<{ id: string }>(async ({ ctx, actor, params }) => json(await pingWebhook(ctx, actor, params.id), 202));
