/**
 * Dashboard server time with 1M jobs: `npx tsx bench/dashboard.ts [--requests 200] [--dir <built checkout>] [--no-write]`.
 *
 * Own embedded PostgreSQL in a temp dir (0755), migrated; 1,000 users; 1,000,000 jobs: 50,000
 * running (deadlines over the next hour, 5% warned), 1,000 terminating, 5,000 queued and ~944,000
 * finished over 30 days (80% succeeded, 8% failed, 6% timed out, 3% killed, 2% cancelled, 1% lost),
 * appended in time order as production appends them (a day of history is ~1/30 of the heap);
 * 24 h of sweeper runs (one timeout run a second); 100k audit events; VACUUM ANALYZE.
 *
 * Then `next start` of the built app (WARDEN_WORKER=off, so nothing changes the data) and, for each
 * target, 200 sequential requests with autocannon (1 connection: the latency is the server time of
 * one request, not queueing) after 20 warm-up requests, with an operator's session cookie:
 * the Running and Timed-out tabs and the Overview, as pages (SSR HTML, what a browser loads) and
 * as the JSON endpoints the pages poll. Also times the Overview's 24 h series query uncached, and
 * reads the Jobs page's first-load JavaScript from the build manifests.
 *
 * The raw result (every request's time per target, each read's 20 times, the JavaScript sizes) goes
 * to docs/bench-results/dashboard-*.json; `npm run bench:report` puts its table in docs/BENCHMARKS.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import { sql } from 'drizzle-orm';
import { seedDefaultPlans } from '../server/domain/plans';
import { sha256 } from '../server/domain/secrets';
import { arg, beginResult, flag, runMain, summarize, withBenchPostgres, type Summary } from './lib';
import { freePort } from '../server/db/embedded';

const REQUESTS = Number(arg('requests', '200'));
const JOBS = Number(arg('jobs', '1000000'));
const RUNNING = Number(arg('running', '50000'));
const APP_DIR = path.resolve(arg('dir', process.cwd()));
const TARGET_P95_MS = 150;
const TARGET_JS_KB = 250;

type Autocannon = (
  o: { url: string; amount: number; connections: number; headers?: Record<string, string>; timeout?: number },
) => NodeJS.EventEmitter & PromiseLike<{ non2xx: number; errors: number; timeouts: number }>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

async function measure(url: string, cookie: string, amount: number): Promise<Summary & { n: number; bad: number; times: number[] }> {
  const times: number[] = [];
  let bad = 0;
  const inst = autocannon({ url, amount, connections: 1, headers: { cookie }, timeout: 30 });
  inst.on('response', (_c: unknown, status: number, _bytes: number, ms: number) => {
    if (status !== 200) bad++;
    times.push(ms);
  });
  const r = await inst;
  bad += r.errors + r.timeouts;
  return { ...summarize(times), n: times.length, bad, times };
}

/** First-load JS of a route: root main files + the client entry chunks of the root layout, its group layout and the page (gzip). */
function firstLoadJs(dir: string, segment: string): { files: number; rawKb: number; gzipKb: number } {
  const next = path.join(dir, '.next');
  const bm = JSON.parse(fs.readFileSync(path.join(next, 'build-manifest.json'), 'utf8')) as { rootMainFiles: string[] };
  const g = globalThis as unknown as { __RSC_MANIFEST?: Record<string, { entryJSFiles: Record<string, string[]> }> };
  g.__RSC_MANIFEST = {};
  // The manifest is a script that assigns globalThis.__RSC_MANIFEST[...]; it is our own build output.
  new Function(fs.readFileSync(path.join(next, 'server/app', `${segment}_client-reference-manifest.js`), 'utf8'))();
  const m = Object.values(g.__RSC_MANIFEST)[0]!;
  const files = new Set(bm.rootMainFiles);
  const group = segment.startsWith('(') ? segment.slice(0, segment.indexOf(')') + 1) : null;
  for (const [k, v] of Object.entries(m.entryJSFiles)) {
    if (k === '[project]/app/layout' || k === `[project]/app/${segment}` || (group && k === `[project]/app/${group}/layout`)) v.forEach((f) => files.add(f));
  }
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const b = fs.readFileSync(path.join(next, f));
    raw += b.length;
    gz += zlib.gzipSync(b, { level: 9 }).length;
  }
  return { files: files.size, rawKb: raw / 1024, gzipKb: gz / 1024 };
}

async function main() {
  // The same build check as `npm start`: builds when there is no build or the sources are newer.
  execFileSync(process.execPath, [path.join(APP_DIR, 'bin/prestart.mjs')], { cwd: APP_DIR, stdio: 'inherit', env: { ...process.env, PORT: String(await freePort()) } });
  const result = beginResult('dashboard', 'Dashboard server time with 1,000,000 jobs', 'dashboard.ts');

  await withBenchPostgres('dash', async (pg) => {
    const db = pg.connect(4).db;
    let server: ReturnType<typeof spawn> | null = null;
    try {
      await seedDefaultPlans(db);
      const t0 = Date.now();
      console.log(`seeding ${JOBS.toLocaleString('en')} jobs …`);
      await db.execute(sql`insert into users (name, plan_id)
        select 'user-' || lpad(g::text, 4, '0'), (select id from plans where name = case when g % 3 = 0 then 'pro' else 'free' end)
        from generate_series(1, 1000) g`);
      const finished = JOBS - RUNNING - 1000 - 5000;
      const cols = sql.raw(
        'user_id, name, image, labels, status, max_retries, timeout_s, timeout_source, grace_period_s, queued_at, started_at, finished_at, deadline_at, warned_at, exit_code, reason, ttl_expires_at, cleaned_at, container_id, node, updated_at',
      );
      // Finished history in 200k batches (one statement each keeps memory flat).
      for (let from = 1; from <= finished; from += 200_000) {
        const to = Math.min(finished, from + 199_999);
        await db.execute(sql`
          with u as (select array_agg(id order by name) ids from users),
          s as (select g, random() r, now() - interval '30 days' + (g::float8 / ${finished}) * interval '30 days' + (random() - 0.5) * interval '10 minutes' f,
                       1 + floor(random() * 600) d from generate_series(${from}::int, ${to}::int) g)
          insert into jobs (${cols})
          select u.ids[1 + (g % 1000)], 'job-' || g, 'busybox:latest', jsonb_build_object('batch', (g % 7)::text),
            (case when r < .80 then 'succeeded' when r < .88 then 'failed' when r < .94 then 'timed_out' when r < .97 then 'killed' when r < .98 then 'cancelled' else 'lost' end)::job_status,
            1, 300, 'plan', 10, f - (d + 5) * interval '1 second', f - d * interval '1 second', f, f - d * interval '1 second' + interval '300 seconds', null,
            case when r < .80 then 0 when r < .88 then 1 when r < .97 then -1 else null end,
            case when r >= .88 and r < .94 then 'Timeout: exceeded 300s (plan free)' when r >= .94 and r < .97 then 'Killed by operator:ops@example.com' else null end,
            f + interval '1 hour', case when f < now() - interval '1 hour' then f + interval '1 hour' else null end,
            md5(g::text), 'bench', f
          from s, u order by f`);
      }
      await db.execute(sql`
        with u as (select array_agg(id order by name) ids from users),
        s as (select g, random() r, now() - random() * interval '30 minutes' st from generate_series(1, ${RUNNING}::int) g)
        insert into jobs (${cols})
        select u.ids[1 + (g % 1000)], 'live-' || g, 'busybox:latest', '{}'::jsonb, 'running', 1, 3600, 'plan', 10, st - interval '2 seconds', st, null,
          now() + (60 + r * 3600) * interval '1 second', case when r < .05 then now() else null end, null, null, null, null, md5('l' || g), 'bench', st
        from s, u`);
      await db.execute(sql`
        with u as (select array_agg(id order by name) ids from users)
        insert into jobs (${cols})
        select u.ids[1 + (g % 1000)], 'term-' || g, 'busybox:latest', '{}'::jsonb, 'terminating', 1, 300, 'plan', 10, now() - interval '400 seconds', now() - interval '305 seconds', null,
          now() - interval '5 seconds', now() - interval '35 seconds', null, null, null, null, md5('t' || g), 'bench', now()
        from generate_series(1, 1000) g, u`);
      await db.execute(sql`
        with u as (select array_agg(id order by name) ids from users)
        insert into jobs (${cols})
        select u.ids[1 + (g % 1000)], 'wait-' || g, 'busybox:latest', '{}'::jsonb, 'queued', 1, 300, 'plan', 10, now() - g * interval '1 second', null, null,
          null, null, null, null, null, null, null, null, now()
        from generate_series(1, 5000) g, u`);
      await db.execute(sql`insert into sweeper_runs (sweeper, node, started_at, finished_at, examined, acted, errors)
        select 'timeout', 'bench', now() - g * interval '1 second', now() - g * interval '1 second' + interval '15 ms', 51000, (g % 5 = 0)::int, 0 from generate_series(1, 86400) g
        union all
        select s, 'bench', now() - g * interval '30 seconds', now() - g * interval '30 seconds' + interval '80 ms', 1000, 3, 0
        from generate_series(1, 2880) g, unnest(array['ttl', 'orphans']) s`);
      await db.execute(sql`insert into audit_events (at, actor, action, target_type, target_id, reason)
        select now() - g * interval '20 seconds', 'sweeper:timeout', (array['job.submit','job.claim','container.start','job.timed_out','job.kill'])[1 + g % 5], 'job', md5(g::text), null
        from generate_series(1, 100000) g`);
      await db.execute(sql`insert into nodes (id, heartbeat_at, started_at, docker_ok) values ('bench', now(), now(), true)`);
      const token = crypto.randomBytes(32).toString('base64url');
      await db.execute(sql`with o as (insert into operators (email, role) values ('bench@example.com', 'viewer') returning id)
        insert into sessions (id, operator_id, expires_at) select ${sha256(token)}, id, now() + interval '12 hours' from o`);
      await db.execute(sql`vacuum analyze`);
      const seedS = (Date.now() - t0) / 1000;
      const [counts] = await db.execute<{ total: number; running: number; timed_out: number }>(sql`
        select count(*)::int total, count(*) filter (where status = 'running')::int running, count(*) filter (where status = 'timed_out')::int timed_out from jobs`);
      console.log(`seeded in ${seedS.toFixed(0)} s:`, counts);

      // Each read behind the views, timed alone (20 runs): where the time goes.
      const ov = await import('../server/dashboard/overview');
      const jq = await import('../server/dashboard/job-lists');
      const parts: [string, () => Promise<unknown>][] = [
        ['stateCounts (live)', () => ov.stateCounts(db)],
        ['nearingDeadline', () => ov.nearingDeadline(db)],
        ['recentTimeoutsAndKills', () => ov.recentTimeoutsAndKills(db, new Date())],
        ['sweeperHealth', () => ov.sweeperHealth(db, ['timeout', 'ttl', 'orphans'], new Date())],
        ['listNodes', async () => (await import('../server/domain/nodes')).listNodes(db, new Date(), 20)],
        ['daySummary (uncached)', () => ov.daySummary(db, new Date())],
        ['jobTabCounts', () => jq.jobTabCounts(db)],
        ['listJobsForTab running', () => jq.listJobsForTab(db, jq.jobListQuerySchema.parse({ tab: 'running' }), new Date())],
        ['listJobsForTab timed_out', () => jq.listJobsForTab(db, jq.jobListQuerySchema.parse({ tab: 'timed_out' }), new Date())],
      ];
      const partMs: Record<string, Summary & { samples: number[] }> = {};
      for (const [name, fn] of parts) {
        const xs: number[] = [];
        for (let i = 0; i < 20; i++) {
          const s = performance.now();
          await fn();
          xs.push(performance.now() - s);
        }
        partMs[name] = { ...summarize(xs), samples: xs };
        console.log(`  ${name}: p50 ${partMs[name]!.p50.toFixed(1)} ms, p95 ${partMs[name]!.p95.toFixed(1)} ms`);
      }
      if (flag('explain')) {
        for (const q of [
          sql`explain (analyze, buffers) select status::text, count(*)::int as n from jobs where status in ('queued', 'starting', 'running', 'terminating') group by status`,
          sql`explain (analyze, buffers) select status::text, count(*)::int as n from jobs where finished_at >= now() - interval '24 hours' group by status`,
        ]) {
          const rows = await db.execute<{ 'QUERY PLAN': string }>(q);
          console.log(rows.map((r) => r['QUERY PLAN']).join('\n'));
        }
      }

      const port = await freePort();
      const env: Record<string, string | undefined> = { ...process.env, PORT: String(port), DATABASE_URL: pg.url, WARDEN_WORKER: 'off', NODE_ENV: 'production', LOG_LEVEL: 'warn', NEXT_TELEMETRY_DISABLED: '1' };
      server = spawn(process.execPath, [path.join(APP_DIR, 'node_modules/next/dist/bin/next'), 'start', '-p', String(port), '-H', '127.0.0.1'], {
        cwd: APP_DIR,
        env: env as NodeJS.ProcessEnv,
        detached: true,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const base = `http://127.0.0.1:${port}`;
      const until = Date.now() + 60_000;
      for (;;) {
        const ok = await fetch(`${base}/api/health`).then((r) => r.status === 200).catch(() => false);
        if (ok) break;
        if (Date.now() > until) throw new Error('next start did not come up');
        await new Promise((r) => setTimeout(r, 300));
      }
      const cookie = `warden_session=${token}`;
      const targets = [
        { name: 'Jobs · Running tab (page)', path: '/jobs?tab=running' },
        { name: 'Jobs · Timed out tab (page)', path: '/jobs?tab=timed_out' },
        { name: 'Overview (page)', path: '/overview' },
        { name: 'Running tab JSON (poll)', path: '/api/ui/jobs?tab=running' },
        { name: 'Timed out tab JSON (poll)', path: '/api/ui/jobs?tab=timed_out' },
        { name: 'Overview JSON (poll)', path: '/api/ui/overview' },
      ];
      const results: ({ name: string; path: string } & Awaited<ReturnType<typeof measure>>)[] = [];
      for (const t of targets) {
        await measure(base + t.path, cookie, 20);
        const r = await measure(base + t.path, cookie, REQUESTS);
        results.push({ ...t, ...r });
        console.log(`${t.name}: p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms (${r.n} requests, ${r.bad} not 200)`);
      }
      const js = firstLoadJs(APP_DIR, '(dashboard)/jobs/page');
      const jsOverview = firstLoadJs(APP_DIR, '(dashboard)/overview/page');
      console.log(`Jobs page first-load JS: ${js.gzipKb.toFixed(1)} KB gzip (${js.rawKb.toFixed(0)} KB raw, ${js.files} files)`);

      const pgVersion = (await db.execute<{ v: string }>(sql`select current_setting('server_version') as v`))[0]?.v ?? '?';
      const slug = (x: string) => x.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '').toLowerCase();
      for (const r of results) {
        result.series(`ms_${slug(r.path)}`, 'ms', r.times);
        result.series(`non200_${slug(r.path)}`, 'responses', [r.bad]);
        result.figure({ label: `${r.name}, \`${r.path}\`: server time of one request, ${JOBS.toLocaleString('en')} jobs`, series: `ms_${slug(r.path)}`, stat: 'p95', goal: { max: TARGET_P95_MS, text: `p95 ≤ ${TARGET_P95_MS} ms at 1M jobs` } });
      }
      for (const r of results) result.figure({ label: `${r.name}: answers other than 200`, series: `non200_${slug(r.path)}`, stat: 'last', goal: { max: 0, text: 'none' } });
      for (const [name, v] of Object.entries(partMs)) result.series(`read_${slug(name)}`, 'ms', v.samples);
      result.series('jobs_first_load_js', 'KB gzip', [js.gzipKb]);
      result.series('overview_first_load_js', 'KB gzip', [jsOverview.gzipKb]);
      result.figure({ label: 'Jobs page first-load JavaScript (gzip -9)', series: 'jobs_first_load_js', stat: 'last', goal: { max: TARGET_JS_KB, text: `≤ ${TARGET_JS_KB} KB` } });
      result.figure({ label: 'Overview first-load JavaScript before its lazily loaded chart chunk', series: 'overview_first_load_js', stat: 'last' });
      result.series('daySummary_uncached', 'ms', partMs['daySummary (uncached)']?.samples ?? []);
      result.figure({ label: "the Overview's 24 h summary computed uncached (off the request path: served from a cache refreshed at most every 10 s)", series: 'daySummary_uncached', stat: 'p50' });
      const { missed } = result.save(
        { jobs: JOBS, running: RUNNING, requests: REQUESTS, warmup: 20, connections: 1, seedSeconds: Math.round(seedS), counts },
        `embedded PostgreSQL ${pgVersion} (stock settings), next start (production build) with WARDEN_WORKER=off, autocannon 1 connection`,
      );
      const pass = missed.length === 0;
      if (!pass) console.error(`goal missed: ${missed.join('; ')}`);
      if (!pass) process.exitCode = 1;
    } finally {
      if (server?.pid) {
        try {
          process.kill(-server.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  });
}

runMain(main);
