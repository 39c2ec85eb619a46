import { getDatabase } from '@/server/db/client';
import { log } from '@/server/log';
import { metrics, refreshJobGauges } from '@/server/metrics';

export const dynamic = 'force-dynamic';

/**
 * Open: Prometheus text format. Sweeper metrics come from this process's registry (the worker
 * runs in the same process under `npm start`); job gauges are read from the database on scrape.
 */
export async function GET() {
  const m = metrics();
  try {
    const { db } = await getDatabase();
    await refreshJobGauges(db);
  } catch (e) {
    // Still serve the process metrics when the database is down; the gauges keep their last value.
    log.warn({ err: String(e) }, 'metrics: job gauges unavailable');
  }
  return new Response(await m.registry.metrics(), {
    status: 200,
    headers: { 'content-type': m.registry.contentType, 'cache-control': 'no-store' },
  });
}
