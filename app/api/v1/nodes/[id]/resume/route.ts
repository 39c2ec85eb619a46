import { resumeNode } from '@/server/domain/nodes';
import { api, json, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** POST {reason?} — the node takes work again (operator role; audited). */
export const POST = api<{ id: string }>(async ({ req, ctx, actor, params }) => json(await resumeNode(ctx, actor, params.id, await readJson(req, { optional: true }))));
