import { uiRoute } from '@/server/auth/ui-route';
import { resolveJobId } from '@/server/domain/job-ids';
import { loadJobLogs } from '@/server/dashboard/loaders';
import { openJobLogDownload } from '@/server/dashboard/log-stream';

export const dynamic = 'force-dynamic';

/**
 * The job's log as JSON ({text}); `?download=1`: the whole log as a text file, streamed line by
 * line from the engine (never held whole), `&timestamps=1` with each line's time.
 */
export const GET = uiRoute<{ id: string }>('viewer', async ({ req, ctx, actor, params, url }) => {
  const id = await resolveJobId(ctx.db, actor, params.id);
  if (url.searchParams.get('download') !== '1') return loadJobLogs(ctx, actor, id);
  const body = await openJobLogDownload(ctx, actor, id, { timestamps: url.searchParams.get('timestamps') === '1', signal: req.signal });
  return new Response(body, {
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-disposition': `attachment; filename="job-${id}.log"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    },
  });
});
