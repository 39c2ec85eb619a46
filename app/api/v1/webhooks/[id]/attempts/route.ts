import { listAttempts } from '@/server/domain/webhooks';
import { api, json, queryObject } from '@/server/http';

export const dynamic = 'force-dynamic';

/** ?limit=&cursor= — every send of every delivery, newest first. */
export const GET = api<{ id: string }>(async ({ req, ctx, actor, params }) => json(await listAttempts(ctx, actor, params.id, queryObject(req))));
