import { createUserKey } from '@/server/domain/users';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

export const POST = api<{ id: string }>(async ({ ctx, actor, params }) => json(await createUserKey(ctx, actor, params.id), 201));
