import { drainNode } from '@/server/domain/nodes';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** POST {reason, deadlineSeconds?} — the node takes no new work (operator role; audited). */
export const POST = api<{ id: string }>(async ({ req, ctx, actor, params }) => json(await drainNode(ctx, actor, params.id, await readJson(req))));
