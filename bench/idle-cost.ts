/**
 * What an idle Warden costs: the whole product (bench/product.ts: `bin/server.mjs`, a real
 * `npm run worker`, the embedded PostgreSQL the server started), no running jobs and `--finished`
 * (default 5,000) finished ones in the history, left alone for `--seconds` (default 60) after a
 * warm-up. CPU seconds of each process tree from /proc (user + system), as a share of one core.
 * Goal (issue 21): the server and PostgreSQL together under 2% of one core; the worker is reported
 * beside them.
 *
 *   npm run bench -- idle-cost [--finished 5000] [--seconds 60] [--warmup 20] [--no-write]
 */
import crypto from 'node:crypto';
import { jobs, users } from '../server/db/schema';
import { arg, beginResult, loadAverage, runMain } from './lib';
import { cpuSecondsOf, planAndUsers, postgresPids, processTree, startProduct } from './product';

const FINISHED = Number(arg('finished', '5000'));
const SECONDS = Number(arg('seconds', '60'));
const WARMUP = Number(arg('warmup', '20'));

runMain(async () => {
  const load0 = loadAverage();
  const result = beginResult('idle-cost', 'Idle cost', 'idle-cost.ts');
  const p = await startProduct('idle');
  try {
    const [u] = await planAndUsers(p, 'bench-idle', { maxConcurrentJobs: 10 }, 1);
    // The history: finished jobs whose containers are long gone (as the TTL sweeper leaves them).
    const [user] = await p.db.db.select().from(users).limit(1);
    const now = Date.now();
    for (let i = 0; i < FINISHED; i += 1000) {
      const rows = [];
      for (let k = i; k < Math.min(FINISHED, i + 1000); k++) {
        const at = new Date(now - 3600_000 - k * 1000);
        rows.push({
          id: crypto.randomUUID(),
          userId: u?.id ?? user!.id,
          image: 'warden-test/busybox:latest',
          status: (['succeeded', 'failed', 'timed_out', 'killed'] as const)[k % 4],
          timeoutS: 60,
          timeoutSource: 'plan' as const,
          gracePeriodS: 10,
          queuedAt: at,
          startedAt: at,
          finishedAt: new Date(at.getTime() + 30_000),
          cleanedAt: new Date(at.getTime() + 60_000),
          node: p.node,
          containerId: crypto.randomBytes(32).toString('hex'),
          attempt: 1,
          maxRetries: 0,
        });
      }
      await p.db.db.insert(jobs).values(rows);
    }
    await p.db.sql`vacuum analyze jobs`;
    await new Promise((r) => setTimeout(r, WARMUP * 1000));
    const trees = {
      // The embedded PostgreSQL is the server's child: its processes count under postgres only.
      server: () => {
        const pg = new Set(postgresPids(p.dataDir));
        return processTree(p.server.pid!).filter((pid) => !pg.has(pid));
      },
      worker: () => processTree(p.worker!.pid!),
      postgres: () => postgresPids(p.dataDir),
    };
    // What PostgreSQL is asked while idle: transactions, and index/sequential scans per table.
    const pgStats = async () => {
      const [db] = await p.db.sql<{ xacts: number }[]>`select (xact_commit + xact_rollback)::float8 as xacts from pg_stat_database where datname = current_database()`;
      const tables = await p.db.sql<{ relname: string; scans: number }[]>`select relname, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::float8 as scans from pg_stat_user_tables`;
      return { xacts: db!.xacts, scans: new Map(tables.map((t) => [t.relname, t.scans])) };
    };
    const before = Object.fromEntries(Object.entries(trees).map(([k, f]) => [k, cpuSecondsOf(f())]));
    await p.db.sql`select pg_stat_force_next_flush()`.catch(() => {});
    const stats0 = await pgStats();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const wall = (Date.now() - t0) / 1000;
    // Stats reach the views when each backend flushes (at most every second or so): wait a beat.
    await new Promise((r) => setTimeout(r, 1500));
    const stats1 = await pgStats();
    const perMin = (n: number) => Math.round((n / wall) * 60);
    const scans = [...stats1.scans].map(([t, n]) => [t, perMin(n - (stats0.scans.get(t) ?? 0))] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    console.error(`idle: ${perMin(stats1.xacts - stats0.xacts)} transactions/min; table scans/min: ${scans.map(([t, n]) => `${t} ${n}`).join(', ') || 'none'}`);
    result.series('pg_transactions_per_min', 'transactions/min', [perMin(stats1.xacts - stats0.xacts)]);
    const share = Object.fromEntries(Object.entries(trees).map(([k, f]) => [k, ((cpuSecondsOf(f()) - before[k]!) / wall) * 100]));
    console.error(`idle ${wall.toFixed(0)} s: server ${share.server!.toFixed(2)}%, PostgreSQL ${share.postgres!.toFixed(2)}%, worker ${share.worker!.toFixed(2)}% of one core`);
    result.series('server_pg_cpu', '% of a core', [share.server! + share.postgres!]);
    result.series('server_cpu', '% of a core', [share.server!]);
    result.series('postgres_cpu', '% of a core', [share.postgres!]);
    result.series('worker_cpu', '% of a core', [share.worker!]);
    result.series('all_cpu', '% of a core', [share.server! + share.postgres! + share.worker!]);
    result.figure({ label: `server + PostgreSQL, ${SECONDS} idle s, ${FINISHED.toLocaleString('en')} finished jobs, no browser open`, series: 'server_pg_cpu', stat: 'last', goal: { max: 2, text: '< 2% of one core' } });
    result.figure({ label: 'server (bin/server.mjs, WARDEN_WORKER=off)', series: 'server_cpu', stat: 'last' });
    result.figure({ label: 'PostgreSQL (all its processes)', series: 'postgres_cpu', stat: 'last' });
    result.figure({ label: 'worker (npm run worker: npm, sh and node)', series: 'worker_cpu', stat: 'last' });
    result.figure({ label: 'the three together', series: 'all_cpu', stat: 'last' });
    result.figure({ label: 'PostgreSQL transactions per minute (all clients: server, worker, the bench)', series: 'pg_transactions_per_min', stat: 'last' });
    const { missed } = result.save({ finished: FINISHED, seconds: SECONDS, warmupS: WARMUP, loadAtStart: load0 }, 'embedded PostgreSQL 18, local Docker engine');
    if (missed.length) {
      console.error(`goal missed: ${missed.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    await p.stop();
  }
});
