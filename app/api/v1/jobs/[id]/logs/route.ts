import { Readable } from 'node:stream';
import { parseInput } from '@/server/domain/errors';
import { followJobLogs, getJobLogs } from '@/server/domain/jobs';
import { logsQuerySchema } from '@/server/domain/schemas';
import { jobApi, queryObject } from '@/server/http';

export const dynamic = 'force-dynamic';

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' };

/**
 * Text: the saved tail, or the live tail while the container runs. `?follow=true` streams the
 * live output until the container stops (no-transform: a compressing proxy must not hold it back).
 */
export const GET = jobApi(async ({ req, ctx, actor, params }) => {
  const q = parseInput(logsQuerySchema, queryObject(req));
  if (q.follow === 'true' || q.follow === '1') {
    const r = await followJobLogs(ctx, actor, params.id);
    if ('text' in r) return new Response(r.text, { status: 200, headers: { ...TEXT, 'cache-control': 'no-store' } });
    const node = r.stream as Readable;
    req.signal.addEventListener('abort', () => node.destroy());
    return new Response(Readable.toWeb(node) as ReadableStream, { status: 200, headers: { ...TEXT, 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' } });
  }
  const text = await getJobLogs(ctx, actor, params.id);
  return new Response(text, { status: 200, headers: { ...TEXT, 'cache-control': 'no-store' } });
});
