/**
 * What an idle-timeout probe costs the engine: `lastOutputAt` (docker logs --tail 1 --timestamps,
 * the probe the timeout sweeper makes when a job's idle deadline passes) against N running
 * containers that each already wrote 20 000 lines and keep writing, next to `logsTail` (the
 * 64 KiB tail, what a naive "compare the tail" probe would read). Probes run 16 at a time, as a
 * sweeper tick's Docker calls do.
 *
 *   npx tsx bench/idle-probe.ts [--n 50] [--rounds 5] [--no-write]
 */
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createDockerRuntime } from '../server/docker/runtime';
import { mapLimit } from '../server/sweepers/common';
import { arg, beginResult, commandLine, formatSummary, loadAverage, machineLine, nowMinute, publish, runMain, summarize, today } from './lib';

const N = Number(arg('n', '50'));
const ROUNDS = Number(arg('rounds', '5'));
const IMAGE = 'warden-test/busybox:latest';
const LABEL = 'warden-bench';

async function main() {
  const load0 = loadAverage();
  const result = beginResult('idle-probe', 'Idle probe cost', 'idle-probe.ts');
  const docker = createDockerRuntime();
  const run = crypto.randomBytes(3).toString('hex');
  const ids: string[] = [];
  try {
    for (let i = 0; i < N; i++) {
      ids.push(await docker.run({ name: `warden-bench-idle-${run}-${i}`, image: IMAGE, command: ['sh', '-c', 'seq 1 20000; while true; do echo tick; sleep 0.5; done'], labels: { [LABEL]: `idle-${run}` } }));
    }
    // Every container has its 20 000 lines out before measuring.
    for (const id of ids) while (!(await docker.logsTail(id, 200)).includes('tick')) await new Promise((r) => setTimeout(r, 100));
    const probe: number[] = [];
    const tail: number[] = [];
    const wall = { probe: 0, tail: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      let t0 = performance.now();
      await mapLimit(ids, 16, async (id) => {
        const s = performance.now();
        const out = await docker.lastOutputAt(id);
        if (!out?.at) throw new Error(`no timestamp from ${id}`);
        probe.push(performance.now() - s);
      });
      wall.probe += performance.now() - t0;
      t0 = performance.now();
      await mapLimit(ids, 16, async (id) => {
        const s = performance.now();
        await docker.logsTail(id);
        tail.push(performance.now() - s);
      });
      wall.tail += performance.now() - t0;
    }
    const rate = (ms: number) => ((N * ROUNDS) / (ms / 1000)).toFixed(0);
    const ps = summarize(probe);
    const ts = summarize(tail);
    const engine = execFileSync('docker', ['version', '-f', '{{.Server.Version}}'], { encoding: 'utf8' }).trim();
    const md = [
      `## Idle probe cost (${today()})`,
      '',
      `- Machine: ${machineLine(`Docker ${engine}`, load0)}`,
      `- Command: \`${commandLine('idle-probe.ts')}\` (${nowMinute()} UTC)`,
      `- Method: ${N} running containers, each of which wrote 20 000 lines and then one line every 0.5 s; ${ROUNDS} rounds of one probe per container, 16 in flight (as a sweeper tick's Docker calls). \`lastOutputAt\` is the idle probe (\`docker logs --tail 1 --timestamps\`); \`logsTail\` reads the last 64 KiB, for comparison.`,
      '',
      '| call | probes | p50 / p95 / max (ms) | throughput (probes/s) |',
      '|---|---:|---:|---:|',
      `| lastOutputAt (tail 1, timestamps) | ${probe.length} | ${formatSummary(ps, 1)} | ${rate(wall.probe)} |`,
      `| logsTail (64 KiB) | ${tail.length} | ${formatSummary(ts, 1)} | ${rate(wall.tail)} |`,
      '',
      `A probe runs only when a job's idle deadline passes, so 500 running jobs with a 60 s idle timeout need ~8 probes a second: ${((8.3 / Number(rate(wall.probe))) * 100).toFixed(1)}% of the measured probe throughput.`,
    ].join('\n');
    publish('## Idle probe cost', md);
    result.series('probe_ms', 'ms', probe);
    result.series('tail_ms', 'ms', tail);
    result.series('probe_per_s', 'probes/s', [Number(rate(wall.probe))]);
    result.series('tail_per_s', 'probes/s', [Number(rate(wall.tail))]);
    result.figure({ label: 'lastOutputAt (the idle probe: logs --tail 1 --timestamps), one probe, 16 in flight', series: 'probe_ms', stat: 'p50' });
    result.figure({ label: 'lastOutputAt (the idle probe: logs --tail 1 --timestamps), one probe, 16 in flight', series: 'probe_ms', stat: 'p99' });
    result.figure({ label: 'lastOutputAt throughput', series: 'probe_per_s', stat: 'last' });
    result.figure({ label: 'logsTail (the last 64 KiB), one read, 16 in flight, for comparison', series: 'tail_ms', stat: 'p50' });
    result.figure({ label: 'logsTail throughput', series: 'tail_per_s', stat: 'last' });
    result.save({ containers: N, rounds: ROUNDS, linesPerContainer: 20000, inFlight: 16 }, `Docker ${engine}`);
  } finally {
    for (const c of await docker.list({ [LABEL]: `idle-${run}` })) await docker.remove(c.id).catch(() => {});
  }
}

runMain(main);
