import { config } from '@/server/config';
import { getDatabase } from '@/server/db/client';
import { liveHub } from '@/server/dashboard/live-hub';
import { openEventStream } from '@/server/dashboard/live-events';
import { api } from '@/server/http';

export const dynamic = 'force-dynamic';

/**
 * Server-Sent Events: `event: hello`, then `data: ["job:<id>:<status>","jobs",…]` whenever
 * something the key may read changed (a user key: its own jobs only). See server/dashboard/live-events.ts.
 */
export const GET = api(async ({ req, actor }) => {
  const body = await openEventStream(liveHub, (await getDatabase()).sql, actor, req.signal, config().WARDEN_LIVE_MAX_CLIENTS);
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      // no-transform: no compression layer may buffer the stream.
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  });
});
