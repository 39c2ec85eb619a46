/**
 * Queue position and webhook outbox cost: `npx tsx bench/queue-position.ts [--queue N] [--iterations N] [--no-write]`.
 *
 * Own embedded PostgreSQL (temp dir, migrated). One user with a long queue (`--queue`, default
 * 100,000 queued jobs) beside 1,000 users with 100 queued jobs each, then:
 * - queueInfo() (domain/queue.ts, what GET /api/v1/jobs/:id and the Jobs page's Queued tab call)
 *   for the head of the long queue (a page of 50), its tail (a page of 50 at positions near N)
 *   and a single job at the very back;
 * - audit() of one job event (the outbox's INSERT … SELECT, domain/outbox.ts) with no webhook
 *   subscriptions and with 20 matching ones, against audit() of a non-event action (no outbox
 *   statement at all).
 * Each figure is p50 / p95 / max of `--iterations` calls, in ms. Results go to stdout and to the
 * "Queue position and webhook outbox" section of docs/BENCHMARKS.md.
 */
import os from 'node:os';
import { sql } from 'drizzle-orm';
import { audit } from '../server/domain/audit';
import { queueInfo } from '../server/domain/queue';
import { arg, beginResult, commandLine, formatSummary, loadAverage, machineLine, nowMinute, publish, runMain, summarize, withBenchPostgres } from './lib';

const QUEUE = Number(arg('queue', '100000'));
const ITER = Number(arg('iterations', '50'));

async function timeIt(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

async function main() {
  const load0 = loadAverage();
  const result = beginResult('queue-position', 'Queue position and webhook outbox', 'queue-position.ts');
  await withBenchPostgres('queue', async (pg) => {
    const { db } = pg.connect(4);
    const pgVersion = (await db.execute<{ server_version: string }>(sql`show server_version`))[0]!.server_version;
    const [plan] = await db.execute<{ id: number }>(sql`insert into plans (name, max_concurrent_jobs, max_queued_jobs) values ('bench', 2, 10000000) returning id`);
    await db.execute(sql`insert into users (name, plan_id) select 'u-' || g, ${plan!.id} from generate_series(0, 1000) g`);
    const [big] = await db.execute<{ id: string }>(sql`select id from users where name = 'u-0'`);
    const insert = (userSql: ReturnType<typeof sql>, n: number) =>
      db.execute(sql`insert into jobs (user_id, image, max_retries, timeout_s, timeout_source, grace_period_s, status, queued_at, updated_at)
        select ${userSql}, 'alpine', 0, 300, 'plan', 30, 'queued', now() - interval '1 day' + g * interval '1 millisecond', now()
        from generate_series(1, ${n}) g`);
    await insert(sql`${big!.id}::uuid`, QUEUE);
    await db.execute(sql`insert into jobs (user_id, image, max_retries, timeout_s, timeout_source, grace_period_s, status, queued_at, updated_at)
      select u.id, 'alpine', 0, 300, 'plan', 30, 'queued', now() - interval '1 day' + g * interval '1 millisecond', now()
      from users u cross join generate_series(1, 100) g where u.name <> 'u-0'`);
    await db.execute(sql`analyze`);
    const ids = (await db.execute<{ id: string }>(sql`select id from jobs where user_id = ${big!.id} order by queued_at, id`)).map((r) => r.id);
    const head = ids.slice(0, 50);
    const tail = ids.slice(-50);
    const last = [ids[ids.length - 1]!];
    const check = await queueInfo(db, last);
    if (check.get(last[0]!)?.position !== QUEUE) throw new Error(`expected position ${QUEUE}, got ${check.get(last[0]!)?.position}`);

    if (process.argv.includes('--explain')) {
      // What the planner does with a page at the tail (the statement queueInfo sends).
      const { queueInfoSql } = await import('../server/domain/queue');
      const plan = await db.execute<{ 'QUERY PLAN': string }>(sql`explain (analyze, buffers) ${queueInfoSql(tail)}`);
      console.log(plan.map((r) => r['QUERY PLAN']).join('\n'));
      return;
    }
    const sHead = await timeIt(ITER, () => queueInfo(db, head));
    const sTail = await timeIt(ITER, () => queueInfo(db, tail));
    const sLast = await timeIt(ITER, () => queueInfo(db, last));
    const [qHead, qTail, qLast] = [summarize(sHead), summarize(sTail), summarize(sLast)];

    // Outbox: events of one job (status cancelled), with and without subscriptions.
    const [job] = await db.execute<{ id: string }>(sql`update jobs set status = 'cancelled' where id = ${ids[0]!} returning id`);
    const ev = (i: number) => ({ actor: 'bench', action: 'job.cancel', targetType: 'job' as const, targetId: job!.id, at: new Date(Date.now() + i), details: {} });
    const plain = (i: number) => ({ ...ev(i), action: 'job.submit' });
    const sPlain = await timeIt(ITER, (i) => db.transaction((tx) => audit(tx, plain(i))));
    const sNone = await timeIt(ITER, (i) => db.transaction((tx) => audit(tx, ev(i))));
    const [aPlain, aNone] = [summarize(sPlain), summarize(sNone)];
    await db.execute(sql`insert into webhooks (url, secret, events, user_id, created_by)
      select 'https://93.184.216.34/h' || g, 'whsec_bench_secret_0123', array['job.cancelled'], ${big!.id}::uuid, 'bench' from generate_series(1, 20) g`);
    const sTwenty = await timeIt(ITER, (i) => db.transaction((tx) => audit(tx, ev(i))));
    const aTwenty = summarize(sTwenty);
    const [written] = await db.execute<{ e: number; d: number }>(sql`select (select count(*)::int from webhook_events) as e, (select count(*)::int from webhook_deliveries) as d`);
    if (Number(written!.e) !== ITER || Number(written!.d) !== ITER * 20) throw new Error(`outbox wrote ${written!.e} events / ${written!.d} deliveries`);

    const md = `## Queue position and webhook outbox (${nowMinute().slice(0, 10)})

Machine: ${machineLine(`PostgreSQL ${pgVersion} (embedded)`, load0)}.
Command: \`${commandLine('queue-position.ts')}\`, ${nowMinute()} UTC. ${os.cpus().length} cores shared with other work.

Data: one user with ${QUEUE.toLocaleString('en')} queued jobs, 1,000 users with 100 queued each. Each figure: p50 / p95 / max of ${ITER} calls, ms.

| what | ms |
|---|---|
| \`queueInfo\`, 50 jobs at the head of the long queue (positions 1–50) | ${formatSummary(qHead, 2)} |
| \`queueInfo\`, 50 jobs at its tail (positions ${QUEUE - 49}–${QUEUE}) | ${formatSummary(qTail, 2)} |
| \`queueInfo\`, the one job at position ${QUEUE.toLocaleString('en')} | ${formatSummary(qLast, 2)} |
| \`audit()\` of a non-event action (no outbox statement), in a transaction | ${formatSummary(aPlain, 2)} |
| \`audit()\` of a job event, no subscription wants it | ${formatSummary(aNone, 2)} |
| \`audit()\` of a job event, 20 subscriptions want it (1 event + 20 deliveries) | ${formatSummary(aTwenty, 2)} |

A position is a count over the user's queued jobs up to the page's first job, once per user on the
page (a materialised CTE; when the planner was free to inline it, it ran the count once per job:
4.8 s for the tail page in the first run of this bench), plus \`row_number()\` over the page's own
span. It grows with how deep the page is in one user's queue, not with other users' queues or with
history; the Queued tab shows the oldest jobs first. Run right after a bulk load (\`analyze\`, no
vacuum), so the counts read the heap; with the visibility map set they can be index-only. The
outbox adds one statement to a job event's transaction, whatever the number of subscriptions.
`;
    publish('## Queue position and webhook outbox', md);
    const n = QUEUE.toLocaleString('en');
    for (const [key, label, xs] of [
      ['queue_head', `queueInfo, 50 jobs at the head of a ${n}-job queue`, sHead],
      ['queue_tail', `queueInfo, 50 jobs at its tail (positions ${(QUEUE - 49).toLocaleString('en')}–${n})`, sTail],
      ['queue_last', `queueInfo, the one job at position ${n}`, sLast],
      ['audit_plain', 'audit() of a non-event action (no outbox statement), in a transaction', sPlain],
      ['audit_no_subscription', 'audit() of a job event, no subscription wants it', sNone],
      ['audit_20_subscriptions', 'audit() of a job event, 20 subscriptions want it (1 event + 20 deliveries)', sTwenty],
    ] as const) {
      result.series(key, 'ms', xs);
      result.figure({ label, series: key, stat: 'p50' });
      result.figure({ label, series: key, stat: 'p95' });
    }
    result.save({ queue: QUEUE, otherUsers: 1000, queuedPerOtherUser: 100, iterations: ITER }, `embedded PostgreSQL ${pgVersion}`);
  });
}

runMain(main);
