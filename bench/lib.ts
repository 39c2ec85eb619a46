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

/** False with `--no-write`: print the results but leave docs/BENCHMARKS.md alone. */
export const WRITE = !flag('no-write');

/** The command as run, for the report: `npx tsx bench/<script> <args…>`. */
export const commandLine = (script: string): string => `npx tsx bench/${script}${args.length ? ' ' + args.join(' ') : ''}`;

/** Nearest-rank percentile (p in 0–100) of xs; xs is not modified. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

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
export async function withBenchPostgres<T>(name: string, fn: (pg: BenchPostgres) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `warden-bench-${name}-`));
  fs.chmodSync(dir, 0o755);
  const pools: Database[] = [];
  try {
    const server = await startEmbeddedPostgres(dir, { shareRunning: false });
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

const BENCHMARKS_MD = path.join(process.cwd(), 'docs', 'BENCHMARKS.md');

/**
 * Replaces this bench's section of docs/BENCHMARKS.md — from the line that is `heading` or starts
 * with `heading` and a space, up to the next "## " — with md, or appends md when there is none.
 */
export function writeSection(heading: string, md: string): void {
  fs.mkdirSync(path.dirname(BENCHMARKS_MD), { recursive: true });
  let text = fs.existsSync(BENCHMARKS_MD) ? fs.readFileSync(BENCHMARKS_MD, 'utf8') : '# Benchmarks\n';
  const escaped = heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const start = new RegExp(`^${escaped}(?: |$)`, 'm').exec(text)?.index ?? -1;
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + md.trimEnd() + '\n' + (next >= 0 ? text.slice(next) : '');
  } else {
    text = text.trimEnd() + '\n\n' + md.trimEnd() + '\n';
  }
  fs.writeFileSync(BENCHMARKS_MD, text);
  console.error(`wrote ${path.relative(process.cwd(), BENCHMARKS_MD)}`);
}

/** Prints the report and, unless --no-write, puts it in docs/BENCHMARKS.md under `heading`. */
export function publish(heading: string, md: string): void {
  console.log('\n' + md);
  if (WRITE) writeSection(heading, md);
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
