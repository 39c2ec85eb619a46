/**
 * What the benchmarks in bench/ share: command-line options, percentiles, machine facts, a
 * throw-away embedded PostgreSQL (migrated), the docs/BENCHMARKS.md section writer and the
 * main() runner. Importing this module also quiets the server's logs (LOG_LEVEL, default warn),
 * so the benchmark's own figures are what reaches the console.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, runMigrations, type Database } from '../server/db/client';
import { startEmbeddedPostgres } from '../server/db/embedded';
import { log } from '../server/log';
import { goalMet, pct, RESULTS_DIR, statOf, type BenchResult, type Figure, type Series } from './results';

export type { Figure, Goal } from './results';

log.level = process.env.LOG_LEVEL ?? 'warn';

/** The arguments after the script name. */
export const args = process.argv.slice(2);

/** The value after `--name`, or `def` when the option is absent (or last, with no value). */
export function arg(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
}

/** Whether the bare option `--name` was given. */
export const flag = (name: string): boolean => args.includes(`--${name}`);

/** False with `--no-write`: print the results, write no raw result file. */
export const WRITE = !flag('no-write');

/** The command as run, for the report: `npx tsx bench/<script> <args…>`. */
export const commandLine = (script: string): string => `npx tsx bench/${script}${args.length ? ' ' + args.join(' ') : ''}`;

export { pct };

export interface Summary {
  p50: number;
  p95: number;
  max: number;
}

/** p50, p95 and max of xs. */
export const summarize = (xs: number[]): Summary => ({ p50: pct(xs, 50), p95: pct(xs, 95), max: Math.max(...xs) });

/** "p50 / p95 / max", each with `digits` decimals. */
export const formatSummary = (s: Summary, digits: number): string => [s.p50, s.p95, s.max].map((x) => x.toFixed(digits)).join(' / ');

/** The 1/5/15-minute load averages, `digits` decimals each, joined by `sep`. */
export const loadAverage = (digits = 2, sep = ' '): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(digits))
    .join(sep);

export const cpuModel = (): string => (os.cpus()[0]?.model ?? 'unknown').trim();

/** " (<hypervisor> guest)" when the CPU runs under a hypervisor (systemd-detect-virt, else cpuinfo), else "". */
export function virt(): string {
  try {
    const v = execFileSync('systemd-detect-virt', ['--vm'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    if (v && v !== 'none') return ` (${v} guest)`;
  } catch {
    /* not installed, or no VM: look at the CPU flags */
  }
  try {
    return /^flags\s*:.*\bhypervisor\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8')) ? ' (virtual machine)' : '';
  } catch {
    return '';
  }
}

/** Physical memory in whole GiB. */
export const memoryGiB = (): string => (os.totalmem() / 2 ** 30).toFixed(0);

/**
 * One line on where the figures were taken: CPUs, memory, OS, Node, then `software` (engine and
 * database versions), the load average at the start (taken by the caller) and now, and this
 * process's priority.
 */
export function machineLine(software: string, loadAtStart: string): string {
  return (
    `${os.cpus().length}× ${cpuModel()}, ${memoryGiB()} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, ${software}; ` +
    `load average at start ${loadAtStart}, at end ${loadAverage()}; process priority (nice) ${os.getPriority()}`
  );
}

/** Today's date (UTC), for section headings: 2026-03-01. */
export const today = (): string => new Date().toISOString().slice(0, 10);

/** Now to the minute (UTC): 2026-03-01 12:00. */
export const nowMinute = (): string => new Date().toISOString().slice(0, 16).replace('T', ' ');

export interface BenchPostgres {
  url: string;
  /** A connection pool of `max` connections, closed before the server stops. */
  connect: (max: number) => Database;
}

/**
 * Runs fn against its own embedded PostgreSQL in a fresh temp dir (0755, never shared with a
 * running Warden), migrated. Afterwards, however fn ends: every pool from pg.connect is closed,
 * the server stopped and the directory removed.
 */
export async function withBenchPostgres<T>(name: string, fn: (pg: BenchPostgres) => Promise<T>, o: { maxConnections?: number } = {}): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `warden-bench-${name}-`));
  fs.chmodSync(dir, 0o755);
  const pools: Database[] = [];
  try {
    const server = await startEmbeddedPostgres(dir, { shareRunning: false, maxConnections: o.maxConnections });
    try {
      await runMigrations(server.url);
      return await fn({
        url: server.url,
        connect: (max) => {
          const d = connect(server.url, { max });
          pools.push(d);
          return d;
        },
      });
    } finally {
      for (const p of pools) await p.close().catch(() => {});
      await server.stop().catch(() => {});
    }
  } finally {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      execFileSync('rm', ['-rf', dir]);
    }
  }
}

/**
 * Prints the bench's own report. Figures reach docs/BENCHMARKS.md only through the raw result
 * (beginResult(…).save) and `npm run bench:report`, never as text written here.
 */
export function publish(_heading: string, md: string): void {
  console.log('\n' + md);
}

/**
 * Runs the bench and exits: with process.exitCode (a bench sets it to 1 when a target is missed),
 * or 1 after printing the error. Exiting explicitly ends timers and subprocess pipes a bench may
 * leave behind.
 */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Raw results (issue 20): every bench writes what it measured — machine, CPU model, commit,
// command, load, every sample — as JSON under docs/bench-results/, and `npm run bench:report`
// (bench/report.ts) makes the tables in docs/BENCHMARKS.md from those files. No figure is typed.

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
}

/** Starts a result: call at the start of the run (load and time are taken now). */
export function beginResult(bench: string, title: string, script: string) {
  const startedAt = new Date().toISOString();
  const loadStart = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const series: Series[] = [];
  const figures: Figure[] = [];
  return {
    series: (name: string, unit: string, samples: number[]) => {
      series.push({ name, unit, samples: samples.map((x) => Math.round(x * 1000) / 1000) });
    },
    figure: (f: Figure) => figures.push(f),
    /** Whether a series of this name was recorded. */
    has: (name: string) => series.some((s) => s.name === name),
    /**
     * Writes docs/bench-results/<bench>-<time>-<commit>.json; returns the goals missed. `outcome`:
     * a run that did not go to its end says so here (where it stopped and why), shown above its table.
     */
    save(params: Record<string, unknown>, software: string, outcome?: string): { file: string; missed: string[] } {
      const commit = git(['rev-parse', 'HEAD']) || 'unknown';
      const r: BenchResult = {
        bench,
        title,
        command: commandLine(script),
        commit,
        dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
        startedAt,
        finishedAt: new Date().toISOString(),
        machine: { cpuModel: cpuModel(), cpus: os.cpus().length, memoryGiB: Number(memoryGiB()), os: `${os.type()} ${os.release()}`, node: process.version, nice: os.getPriority(), software },
        load: { start: loadStart, end: os.loadavg().map((l) => Math.round(l * 100) / 100) },
        sharedBox: process.env.BENCH_SHARED_BOX === '1' || loadStart[0]! >= os.cpus().length,
        params,
        series,
        figures,
        ...(outcome ? { outcome } : {}),
      };
      fs.mkdirSync(RESULTS_DIR, { recursive: true });
      const file = path.join(RESULTS_DIR, `${bench}-${startedAt.slice(0, 16).replace(/[-:]/g, '')}-${commit.slice(0, 7)}.json`);
      if (WRITE) {
        fs.writeFileSync(file, JSON.stringify(r) + '\n');
        console.error(`wrote ${path.relative(process.cwd(), file)} (npm run bench:report puts it in docs/BENCHMARKS.md)`);
      }
      const missed = figures.filter((f) => f.goal && !goalMet(f, statOf(f, series.find((s) => s.name === f.series)?.samples ?? []))).map((f) => f.label);
      return { file, missed };
    },
  };
}

