import { healthForRequest } from '@/server/auth/health-access';
import { json } from '@/server/http';

export const dynamic = 'force-dynamic';

/**
 * Open: 200 when the database answers (Docker down is "degraded", still 200), 503 when it does
 * not. Without credentials the answer is `{status}` only; a signed-in operator or an operator
 * key gets the whole report (engine address, node ids, errors, sweeper runs).
 */
export async function GET(req: Request) {
  const h = await healthForRequest(req);
  return json(h, h.status === 'down' ? 503 : 200);
}
