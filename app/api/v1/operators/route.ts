import { listOperators, operatorToJson } from '@/server/domain/operators';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET — every operator (admin): the ids the key routes take. */
export const GET = api(async ({ ctx, actor }) => json({ operators: (await listOperators(ctx, actor)).map(operatorToJson) }));
