import { getMe } from '@/server/domain/me';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** User key: its plan, effective limits (and which rule set each), counts, usage vs quota. */
export const GET = api(async ({ ctx, actor }) => json(await getMe(ctx, actor)));
