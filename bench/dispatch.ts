/**
 * Dispatcher claim benchmark: `npx tsx bench/dispatch.ts [--seconds N] [--explain] [--no-write]`.
 *
 * Own embedded PostgreSQL in a temp dir, migrated; 1,000 users and 100,000 queued jobs; then the
 * production claimJobs() (default maxUsers 50, perUser 1) in a loop, claim-and-mark only: no
 * containers. Each claimed job is given a simulated run time of 1–60 rounds and marked
 * `succeeded` when that many rounds have passed, so slots free up the way they do in production
 * and the per-user limit (2) actually binds: a user is served about every 20 rounds (1000 users /
 * 50 per round), so jobs that "run" longer than that leave users at their limit, to be skipped.
 * (Giving users a huge limit instead would never exercise the limit check, and would let the
 * active-job counts grow to 100k rows, a state production never reaches.)
 *
 * After every round the checker counts users with more active jobs than their limit (must be 0).
 * Fairness: Jain's index over the claims per user in the measured window (every user has queued
 * work throughout the window, so equal service is the fair outcome). Run once with one
 * dispatcher, once with two dispatchers on separate connection pools. Results go to stdout and
 * to the "Dispatcher claims" section of docs/BENCHMARKS.md.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

process.env.LOG_LEVEL ??= 'warn';

const args = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const WINDOW_S = arg('seconds', 10);
const USERS = arg('users', 1000);
const JOBS_PER_USER = arg('jobs-per-user', 100);
const LIMIT = 2;
const MAX_RUN_ROUNDS = 60;
const EXPLAIN = args.includes('--explain');
const WRITE = !args.includes('--no-write');

async function main() {
  const { sql } = await import('drizzle-orm');
  const { startEmbeddedPostgres } = await import('../server/db/embedded');
  const { connect, runMigrations } = await import('../server/db/client');
  const { claimJobs, candidateUsersSql } = await import('../server/worker/dispatcher');
  type Db = import('../server/db/client').Db;

  const dir = path.join(os.tmpdir(), `warden-bench-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const pg = await startEmbeddedPostgres(dir, { shareRunning: false });
  const pools: { close: () => Promise<void> }[] = [];
  try {
    await runMigrations(pg.url);
    const admin = connect(pg.url, { max: 2 });
    pools.push(admin);
    const pgVersion = (await admin.db.execute<{ server_version: string }>(sql`show server_version`))[0]!.server_version;

    const [planRow] = await admin.db.execute<{ id: number }>(sql`
      insert into plans (name, max_concurrent_jobs, max_queued_jobs, monthly_quota_s)
      values ('bench', ${LIMIT}, 1000000, null) returning id`);
    await admin.db.execute(sql`
      insert into users (name, plan_id) select 'bench-' || g, ${planRow!.id} from generate_series(1, ${USERS}) g`);

    /** Fresh queue: 100 jobs per user, interleaved in age across users, oldest an hour ago. */
    async function seed(): Promise<number> {
      const t0 = performance.now();
      await admin.db.execute(sql`truncate jobs, audit_events, usage`);
      await admin.db.execute(sql`update users set last_served_at = null`);
      await admin.db.execute(sql`
        insert into jobs (user_id, image, command, max_retries, timeout_s, timeout_source, grace_period_s, queued_at, updated_at)
        select u.id, 'warden-test/busybox:latest', '["true"]'::jsonb, 0, 300, 'plan', 10,
               now() - interval '1 hour' + ((g * ${USERS} + u.rn) * interval '1 microsecond'), now()
        from (select id, row_number() over (order by name) as rn from users) u, generate_series(1, ${JOBS_PER_USER}) g`);
      await admin.db.execute(sql`analyze jobs; analyze users`);
      return performance.now() - t0;
    }

    async function violations(db: Db): Promise<number> {
      const r = await db.execute<{ n: number }>(sql`
        select count(*)::int as n from (
          select j.user_id from jobs j join users u on u.id = j.user_id join plans p on p.id = u.plan_id
          where j.status in ('starting','running','terminating')
          group by j.user_id, u.max_concurrent_jobs, p.max_concurrent_jobs
          having count(*) > coalesce(u.max_concurrent_jobs, p.max_concurrent_jobs)) x`);
      return Number(r[0]!.n);
    }

    interface Result {
      dispatchers: number;
      seedMs: number;
      claims: number;
      rounds: number;
      wallS: number;
      claimS: number;
      perRoundMs: { p50: number; p95: number; max: number };
      jain: number;
      minPerUser: number;
      maxPerUser: number;
      usersServed: number;
      violations: number;
      violationChecks: number;
    }

    async function run(dispatchers: number): Promise<Result> {
      const seedMs = await seed();
      const dbs = Array.from({ length: dispatchers }, () => {
        const d = connect(pg.url, { max: 4 });
        pools.push(d);
        return d;
      });
      let claims = 0;
      let rounds = 0;
      let claimMs = 0;
      let viol = 0;
      let checks = 0;
      const roundMs: number[] = [];
      const deadline = performance.now() + WINDOW_S * 1000;
      const t0 = performance.now();
      const loop = async (db: Db, node: string) => {
        // Simulated running jobs: finish after their run time (counted in this loop's rounds).
        const running: { id: string; endsAt: number }[] = [];
        let r = 0;
        // Stop well before any user could run out of queued work (keeps the window fair).
        while (performance.now() < deadline && claims < (USERS * JOBS_PER_USER) / 2) {
          r++;
          const c0 = performance.now();
          const got = await claimJobs(db, { now: new Date(), node });
          const c1 = performance.now();
          claimMs += c1 - c0;
          roundMs.push(c1 - c0);
          claims += got.length;
          for (const j of got) running.push({ id: j.id, endsAt: r + 1 + Math.floor(Math.random() * MAX_RUN_ROUNDS) });
          viol += await violations(db);
          checks++;
          const done = running.filter((x) => x.endsAt <= r).map((x) => x.id);
          if (done.length) {
            await db.execute(sql`update jobs set status = 'succeeded', finished_at = now(), exit_code = 0, updated_at = now()
              where id = any(${`{${done.join(',')}}`}::uuid[])`);
            const keep = running.filter((x) => x.endsAt > r);
            running.length = 0;
            running.push(...keep);
          }
        }
        rounds += r;
      };
      await Promise.all(dbs.map((d, i) => loop(d.db, `bench-${i}`)));
      const wallS = (performance.now() - t0) / 1000;
      const per = await admin.db.execute<{ n: number }>(sql`
        select (select count(*) from jobs j where j.user_id = u.id and j.status <> 'queued')::int as n from users u`);
      const xs = per.map((p) => Number(p.n));
      const sum = xs.reduce((a, b) => a + b, 0);
      const sumSq = xs.reduce((a, b) => a + b * b, 0);
      roundMs.sort((a, b) => a - b);
      const q = (p: number) => roundMs[Math.min(roundMs.length - 1, Math.floor(p * roundMs.length))]!;
      return {
        dispatchers,
        seedMs,
        claims,
        rounds,
        wallS,
        claimS: claimMs / 1000,
        perRoundMs: { p50: q(0.5), p95: q(0.95), max: roundMs[roundMs.length - 1]! },
        jain: (sum * sum) / (xs.length * sumSq),
        minPerUser: Math.min(...xs),
        maxPerUser: Math.max(...xs),
        usersServed: xs.filter((x) => x > 0).length,
        violations: viol,
        violationChecks: checks,
      };
    }

    let explain = '';
    if (EXPLAIN) {
      await seed();
      const month = new Date().toISOString().slice(0, 7);
      // The candidate step of claimJobs, the very statement it runs, on the seeded data.
      const rows = await admin.db.execute<{ 'QUERY PLAN': string }>(sql`explain (analyze, buffers) ${candidateUsersSql(month, 50)}`);
      explain = rows.map((r) => r['QUERY PLAN']).join('\n');
      console.log(explain);
    }

    const results = [await run(1), await run(2)];
    const cpu = (os.cpus()[0]?.model ?? 'unknown').trim();
    const mem = execSync('free -g').toString().trim();
    const fmt = (r: Result) =>
      `| ${r.dispatchers} | ${r.claims.toLocaleString('en')} | ${r.rounds.toLocaleString('en')} | ${r.wallS.toFixed(1)} | **${Math.round(r.claims / r.wallS).toLocaleString('en')}** | ${Math.round(r.claims / r.claimS).toLocaleString('en')} | ${r.perRoundMs.p50.toFixed(1)} / ${r.perRoundMs.p95.toFixed(1)} / ${r.perRoundMs.max.toFixed(1)} | **${r.jain.toFixed(4)}** (${r.minPerUser}–${r.maxPerUser}, ${r.usersServed}/${USERS} users) | **${r.violations}** / ${r.violationChecks.toLocaleString('en')} |`;
    const pass = results.every((r) => r.claims / r.wallS >= 500 && r.jain >= 0.99 && r.violations === 0);
    const md = `## Dispatcher claims

Command: \`npx tsx bench/dispatch.ts${args.length ? ' ' + args.join(' ') : ''}\` — ${new Date().toISOString().slice(0, 10)}

Machine: ${os.cpus().length} CPUs (\`nproc\` ${execSync('nproc').toString().trim()}), ${cpu}; Node ${process.version}; embedded PostgreSQL ${pgVersion} (default settings, \`max_connections=200\`).

\`\`\`
$ free -g
${mem}
\`\`\`

Set-up: ${USERS.toLocaleString('en')} users on one plan (\`max_concurrent_jobs\` ${LIMIT}), ${(USERS * JOBS_PER_USER).toLocaleString('en')} queued jobs
(${JOBS_PER_USER} per user, bulk-inserted with \`generate_series\`), claim-and-mark only (no containers): the production
\`claimJobs()\` with its defaults (up to 50 users a round, 1 job each), each claimed job "runs" for a random
1–${MAX_RUN_ROUNDS} rounds and is then marked \`succeeded\`, so slots free up and the limit binds (a user comes up
about every 20 rounds). After every round a checker counts users above their limit. Window: ${WINDOW_S} s per run
(or until half the queue is claimed). Fairness: Jain's index over claims per user in the window.

| dispatchers | claims | rounds | wall s | claims/s (wall, incl. check + mark) | claims/s (claim time only) | round ms p50 / p95 / max | Jain (min–max per user) | violations / checks |
|---|---|---|---|---|---|---|---|---|
${results.map(fmt).join('\n')}

Target: ≥ 500 claims/s, Jain ≥ 0.99, 0 violations — **${pass ? 'met' : 'NOT met'}**.
Seeding 100k jobs took ${(results[0]!.seedMs / 1000).toFixed(1)} s.
`;
    console.log('\n' + md);
    if (WRITE) writeSection(md);
    if (!pass) process.exitCode = 1;
  } finally {
    for (const p of pools) await p.close().catch(() => {});
    await pg.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Replaces (or appends) the "## Dispatcher claims" section of docs/BENCHMARKS.md. */
function writeSection(md: string) {
  const file = path.join(process.cwd(), 'docs', 'BENCHMARKS.md');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = text.indexOf('## Dispatcher claims');
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + md + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    text = text.trimEnd() + '\n\n' + md;
  }
  fs.writeFileSync(file, text);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
