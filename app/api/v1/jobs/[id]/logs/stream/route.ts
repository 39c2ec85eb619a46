import { openJobLogStream, parseLogStreamQuery } from '@/server/dashboard/log-stream';
import { jobApi, queryObject } from '@/server/http';

export const dynamic = 'force-dynamic';

/**
 * Server-Sent Events: the job's log line by line as it is written (each with its time and
 * stream), then `event: end` when the job is final; the saved tail when the container is gone.
 * See server/dashboard/log-stream.ts.
 */
export const GET = jobApi(async ({ req, ctx, actor, params }) => {
  const q = parseLogStreamQuery(queryObject(req));
  const body = await openJobLogStream(ctx, actor, params.id, { tail: q.tail, lastEventId: req.headers.get('last-event-id'), signal: req.signal });
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      // no-transform: no compression layer may buffer the stream.
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  });
});
