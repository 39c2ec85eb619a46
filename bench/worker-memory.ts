/**
 * Worker memory at size, through the whole product (bench/product.ts): `bin/server.mjs` and a real
 * `npm run worker`; the jobs go in through the HTTP API (16 requests in flight) and the worker
 * starts every one. Then a steady window of `--seconds` (default 60) with every job running: the
 * sweepers on their schedule (orphans and TTL every 5 s, each listing every container), the
 * dispatcher, reconcile, heartbeats, the events stream. The worker's own node process (under npm
 * → sh → tsx) is sampled from /proc every 100 ms, so the peaks of the listings are seen.
 *
 * Engines:
 *   --engine fake (default, --running 10000): bench/fake-engine.ts, a Docker API stand-in on a
 *     unix socket that the worker reaches through its own dockerode client (DOCKER_HOST): this
 *     machine cannot run 10,000 real containers, and the stand-in's containers cost nothing, so
 *     the figure is the worker's own.
 *   --engine real (--running 2000): the local Docker engine with that many real `sleep`
 *     containers.
 *
 *   npm run bench -- worker-memory [--engine fake|real] [--running N] [--seconds 60] [--no-write]
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { removeContainers } from '../test/helpers/warden-server';
import { arg, beginResult, loadAverage, pct, runMain } from './lib';
import { startFakeEngine } from './fake-engine';
import { cpuSecondsOf, planAndUsers, rssOf, startProduct, workerNodePid } from './product';

const ENGINE = arg('engine', 'fake') as 'fake' | 'real';
const RUNNING = Number(arg('running', ENGINE === 'fake' ? '10000' : '2000'));
/**
 * Each job's memory limit. The stand-in engine runs nothing; a real container's limit must hold
 * runc's own init while it starts the container (≈ 14 MB charged to the container's cgroup): at
 * 6 MB the kernel killed runc inside the new cgroups, the starts failed, and the engine hung on
 * the removals afterwards.
 */
const MEMORY_MB = ENGINE === 'fake' ? 6 : 32;
const SECONDS = Number(arg('seconds', '60'));
const PER_USER = 1000;
const IMAGE = 'warden-test/busybox:latest';

async function mapLimit<T>(n: number, k: number, fn: (i: number) => Promise<T>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: k }, async () => {
    while (i < n) await fn(i++);
  }));
}

runMain(async () => {
  const load0 = loadAverage();
  const result = beginResult(`worker-memory-${ENGINE}`, `Worker memory at ${RUNNING.toLocaleString('en')} running (${ENGINE} engine)`, 'worker-memory.ts');
  const fake = ENGINE === 'fake' ? await startFakeEngine(path.join(os.tmpdir(), `warden-bench-engine-${crypto.randomBytes(3).toString('hex')}.sock`)) : null;
  const p = await startProduct(`mem-${ENGINE}`, {
    env: { WARDEN_NODE_CPU_OVERCOMMIT: '1000', WARDEN_NODE_MEMORY_MB: '100000000', WARDEN_ORPHAN_SWEEP_S: '5', WARDEN_TTL_SWEEP_S: '5', WARDEN_START_CONCURRENCY: '16' },
    workerEnv: fake ? { DOCKER_HOST: `unix://${fake.socket}` } : {},
  });
  try {
    const wpid = workerNodePid(p.worker!);
    const rss: number[] = [];
    const phase: string[] = [];
    let now = 'submit';
    const sampler = setInterval(() => {
      rss.push(rssOf(wpid) / 2 ** 20);
      phase.push(now);
    }, 100);
    const users = await planAndUsers(p, 'bench-mem', { maxConcurrentJobs: PER_USER, maxQueuedJobs: PER_USER, maxTimeoutSeconds: 86400, defaultTimeoutSeconds: 86400, cpus: 0.01, memoryMb: MEMORY_MB, network: 'none' }, Math.ceil(RUNNING / PER_USER));
    const t0 = Date.now();
    await mapLimit(RUNNING, 16, (i) => p.api('POST', '/api/v1/jobs', { image: IMAGE, command: ['sleep', '86400'], timeoutSeconds: 86400 }, users[Math.floor(i / PER_USER)]!.key));
    console.error(`${RUNNING} submitted over HTTP in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    now = 'start';
    for (;;) {
      const [r] = await p.db.sql<{ n: number }[]>`select count(*)::int as n from jobs where status = 'running'`;
      if (r!.n >= RUNNING) break;
      const [bad] = await p.db.sql<{ n: number }[]>`select count(*)::int as n from jobs where status not in ('queued', 'starting', 'running')`;
      if (bad!.n > 0) throw new Error(`${bad!.n} jobs ended; see test-results/bench-mem-${ENGINE}-worker.log`);
      if (Date.now() - t0 > 60 * 60_000) throw new Error('the jobs did not all start within an hour');
      await new Promise((res) => setTimeout(res, 1000));
    }
    console.error(`${RUNNING} running after ${((Date.now() - t0) / 1000).toFixed(0)} s; steady window of ${SECONDS} s`);
    now = 'steady';
    const windowStart = new Date();
    const cpu0 = cpuSecondsOf([wpid]);
    const steadyFrom = rss.length;
    await new Promise((res) => setTimeout(res, SECONDS * 1000));
    const cpuS = cpuSecondsOf([wpid]) - cpu0;
    clearInterval(sampler);
    const steady = rss.slice(steadyFrom);
    const [still] = await p.db.sql<{ n: number }[]>`select count(*)::int as n from jobs where status = 'running'`;
    if (still!.n !== RUNNING) throw new Error(`expected ${RUNNING} running at the end, found ${still!.n}`);
    const runs = await p.db.sql<{ sweeper: string; ms: number; examined: number }[]>`
      select sweeper, extract(epoch from finished_at - started_at) * 1000 as ms, examined from sweeper_runs
      where node = ${p.node} and started_at >= ${windowStart.toISOString()}::timestamptz and finished_at is not null`;
    const ticks = (name: string) => runs.filter((r) => r.sweeper === name).map((r) => Number(r.ms));
    console.error(`worker RSS: steady max ${Math.max(...steady).toFixed(0)} MB, whole run max ${Math.max(...rss).toFixed(0)} MB; worker CPU ${(cpuS / SECONDS * 100).toFixed(1)}% of a core; timeout tick p50 ${pct(ticks('timeout'), 50)?.toFixed(1)} ms, orphans p50 ${pct(ticks('orphans'), 50)?.toFixed(0)} ms`);
    if (fake?.unknown.size) console.error(`calls the stand-in engine does not emulate: ${[...fake.unknown.entries()].map(([k, n]) => `${k} ×${n}`).join(', ')}`);

    const label = ENGINE === 'fake' ? 'stand-in engine (bench/fake-engine.ts)' : 'real engine';
    result.series('worker_rss_steady', 'MB', steady);
    result.series('worker_rss_whole_run', 'MB', rss);
    result.series('worker_cpu_steady', '% of a core', [(cpuS / SECONDS) * 100]);
    for (const s of ['timeout', 'ttl', 'orphans']) result.series(`${s}_tick`, 'ms', ticks(s));
    result.figure({
      label: `npm run worker RSS, ${RUNNING.toLocaleString('en')} running, steady ${SECONDS} s (${label})`,
      series: 'worker_rss_steady',
      stat: 'max',
      ...(ENGINE === 'fake' ? { goal: { max: 200, text: '≤ 200 MB at 10,000 running' } } : {}),
    });
    result.figure({ label: `npm run worker RSS, whole run: submitting and starting ${RUNNING.toLocaleString('en')} too`, series: 'worker_rss_whole_run', stat: 'max' });
    result.figure({ label: 'worker CPU over the steady window', series: 'worker_cpu_steady', stat: 'last' });
    result.figure({ label: 'timeout sweeper tick (sweeper_runs)', series: 'timeout_tick', stat: 'p99' });
    result.figure({ label: `orphans sweeper tick, lists all ${RUNNING.toLocaleString('en')} containers (sweeper_runs)`, series: 'orphans_tick', stat: 'p99' });
    const software = ENGINE === 'fake' ? 'stand-in Docker API (bench/fake-engine.ts), embedded PostgreSQL 18' : `Docker ${execFileSync('docker', ['version', '--format', '{{.Server.Version}}']).toString().trim()}, embedded PostgreSQL 18`;
    const { missed } = result.save({ engine: ENGINE, running: RUNNING, seconds: SECONDS, loadAtStart: load0, unemulated: fake ? Object.fromEntries(fake.unknown) : undefined, phases: { submit: phase.filter((x) => x === 'submit').length, start: phase.filter((x) => x === 'start').length } }, software);
    if (missed.length) {
      console.error(`goal missed: ${missed.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    await p.stop();
    await fake?.close();
    if (ENGINE === 'real') removeContainers(`warden.node=${p.node}`);
  }
});
