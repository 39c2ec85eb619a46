import { healthReport } from '@/server/health';
import { json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** Open: 200 when the database answers (Docker down is "degraded", still 200), 503 when it does not. */
export async function GET() {
  const h = await healthReport();
  return json(h, h.db.ok ? 200 : 503);
}
