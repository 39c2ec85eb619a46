import { uiRoute } from '@/server/auth/ui-route';
import { config } from '@/server/config';
import { getDatabase } from '@/server/db/client';
import { liveHub } from '@/server/dashboard/live-hub';
import { json } from '@/server/http';

export const dynamic = 'force-dynamic';

/**
 * The dashboard's live stream (Server-Sent Events): topics of what changed, fed by one
 * LISTEN/NOTIFY connection per process (server/dashboard/live-hub.ts). 429 when this process
 * already serves WARDEN_LIVE_MAX_CLIENTS streams, 503 when it cannot LISTEN: the browser then polls.
 */
export const GET = uiRoute('viewer', async ({ req }) => {
  try {
    await liveHub.ensureListening((await getDatabase()).sql);
  } catch {
    return json({ error: { code: 'live_unavailable', message: 'The live stream is unavailable; the dashboard refreshes by polling.' } }, 503);
  }
  const body = liveHub.stream(req.signal, config().WARDEN_LIVE_MAX_CLIENTS);
  if (!body) {
    return json({ error: { code: 'too_many_streams', message: 'This server already serves its maximum of live dashboards (WARDEN_LIVE_MAX_CLIENTS); this one refreshes by polling.' } }, 429, { 'retry-after': '30' });
  }
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      // no-transform: no compression layer may buffer the stream.
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  });
});
