import { getJobLogs } from '@/server/domain/jobs';
import { api } from '@/server/http';

export const dynamic = 'force-dynamic';

/** Text: the saved tail, or the live tail while the container runs. */
export const GET = api<{ id: string }>(async ({ ctx, actor, params }) => {
  const text = await getJobLogs(ctx, actor, params.id);
  return new Response(text, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } });
});
