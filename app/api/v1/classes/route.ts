import { classToJson, listClasses } from '@/server/domain/classes';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET /api/v1/classes — every job class (operators and user keys). */
export const GET = api(async ({ ctx, actor }) => json({ classes: (await listClasses(ctx, actor)).map(classToJson) }));
