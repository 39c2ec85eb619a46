import { uiRoute } from '@/server/auth/ui-route';
import { resolveJobId } from '@/server/domain/job-ids';
import { loadJobLogs } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

/** The job's log as JSON ({text}); `?download=1`: the whole log as a text file. */
export const GET = uiRoute<{ id: string }>('viewer', async ({ ctx, actor, params, url }) => {
  const id = await resolveJobId(ctx.db, actor, params.id);
  const logs = await loadJobLogs(ctx, actor, id);
  if (url.searchParams.get('download') !== '1') return logs;
  return new Response(logs.text, {
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-disposition': `attachment; filename="job-${id}.log"`,
      'cache-control': 'no-store',
    },
  });
});
