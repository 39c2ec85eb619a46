import { searchObject, uiRoute } from '@/server/auth/ui-route';
import { resolveJobId } from '@/server/domain/job-ids';
import { openJobLogStream, parseLogStreamQuery } from '@/server/dashboard/log-stream';

export const dynamic = 'force-dynamic';

/** The job page's live log (Server-Sent Events; the same stream as GET /api/v1/jobs/:id/logs/stream). */
export const GET = uiRoute<{ id: string }>('viewer', async ({ req, ctx, actor, params, url }) => {
  const q = parseLogStreamQuery(searchObject(url));
  const id = await resolveJobId(ctx.db, actor, params.id);
  const body = await openJobLogStream(ctx, actor, id, { tail: q.tail, lastEventId: req.headers.get('last-event-id'), signal: req.signal });
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  });
});
