/**
 * Raw bench results and the tables made from them (issue 20). Every bench writes what it
 * measured — machine, CPU model, commit, command, load, every sample — as JSON under
 * docs/bench-results/ (bench/lib.ts beginResult), and `npm run bench:report` (bench/report.ts)
 * regenerates the tables in docs/BENCHMARKS.md between `<!-- bench:NAME -->` markers from those
 * files. No figure is typed by hand; test/bench.report.test.ts fails when a table and the files
 * disagree. Pure: no database, engine or server imports.
 */
import fs from 'node:fs';
import path from 'node:path';

export const RESULTS_DIR = path.join(process.cwd(), 'docs', 'bench-results');

/** Files of bench/ that are not benchmarks: the runner, the report and what the benches share. */
export const NOT_BENCHES = ['run.ts', 'lib.ts', 'results.ts', 'report.ts', 'product.ts', 'fake-engine.ts'];

/**
 * The bench (script) a result or block name belongs to: the name itself, or `<bench>-<variant>`
 * (worker-memory-fake, chaos-seed-3) for a bench that writes one result per variant.
 */
export const benchOf = (name: string, benches: string[]): string | undefined =>
  benches.includes(name) ? name : benches.filter((b) => name.startsWith(`${b}-`)).sort((a, b) => b.length - a.length)[0];
export const BENCHMARKS_MD = path.join(process.cwd(), 'docs', 'BENCHMARKS.md');

/** Nearest-rank percentile (p in 0–100) of xs; xs is not modified. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** A goal on a figure: the figure must be ≤ max (or ≥ min). */
export interface Goal {
  max?: number;
  min?: number;
  /** How the goal reads in the table, e.g. "p99 ≤ 100 ms at 500 running". */
  text: string;
}

/** One measured quantity, every sample of it. */
export interface Series {
  name: string;
  unit: string;
  samples: number[];
}

/** A headline figure: a statistic of one series, with its goal if it has one. */
export interface Figure {
  label: string;
  series: string;
  /** p99 is reported only from ≥ 200 samples; below that the report gives "max of N". */
  stat: 'p50' | 'p90' | 'p95' | 'p99' | 'max' | 'min' | 'mean' | 'last';
  goal?: Goal;
}

export interface BenchResult {
  bench: string;
  title: string;
  command: string;
  commit: string;
  /** Uncommitted changes in the checkout when it ran. */
  dirty: boolean;
  startedAt: string;
  finishedAt: string;
  machine: { cpuModel: string; cpus: number; memoryGiB: number; os: string; node: string; nice: number; software: string };
  /** 1/5/15-minute load averages at start and end; a shared box shows here. */
  load: { start: number[]; end: number[] };
  /** True when other work shared the machine (set BENCH_SHARED_BOX=1, or a 1-min load ≥ CPUs at start). */
  sharedBox: boolean;
  params: Record<string, unknown>;
  series: Series[];
  figures: Figure[];
  /** Set when the run did not go to its end: where it stopped and why, in words. */
  outcome?: string;
}

/** The value a figure reports, and the statistic it really is (p99 falls back to max under 200 samples). */
export function statOf(f: Figure, xs: number[]): { value: number; stat: string; n: number } {
  const n = xs.length;
  if (n === 0) return { value: NaN, stat: f.stat, n };
  if (f.stat === 'p99' && n < 200) return { value: Math.max(...xs), stat: `max of ${n}`, n };
  switch (f.stat) {
    case 'p50':
    case 'p90':
    case 'p95':
    case 'p99':
      return { value: pct(xs, Number(f.stat.slice(1))), stat: f.stat, n };
    case 'max':
      return { value: Math.max(...xs), stat: 'max', n };
    case 'min':
      return { value: Math.min(...xs), stat: 'min', n };
    case 'mean':
      return { value: xs.reduce((a, b) => a + b, 0) / n, stat: 'mean', n };
    case 'last':
      return { value: xs[n - 1]!, stat: 'value', n };
  }
}

export function goalMet(f: Figure, v: { value: number }): boolean {
  if (!f.goal) return true;
  if (!Number.isFinite(v.value)) return false;
  if (f.goal.max !== undefined && v.value > f.goal.max) return false;
  if (f.goal.min !== undefined && v.value < f.goal.min) return false;
  return true;
}

const fmt = (v: number, unit: string): string => {
  if (!Number.isFinite(v)) return '—';
  const d = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(d)} ${unit}`;
};

/** Every result file, oldest first. */
export function readResults(dir = RESULTS_DIR): BenchResult[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as BenchResult)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.bench.localeCompare(b.bench));
}

interface Row {
  figure: string;
  stat: string;
  value: string;
  n: number;
  goal: string;
  verdict: string;
}

function rows(r: BenchResult): Row[] {
  return r.figures.map((f) => {
    const s = r.series.find((x) => x.name === f.series);
    const v = statOf(f, s?.samples ?? []);
    return {
      figure: f.label,
      stat: v.stat,
      value: fmt(v.value, s?.unit ?? ''),
      n: v.n,
      goal: f.goal?.text ?? '—',
      verdict: f.goal ? (goalMet(f, v) ? 'met' : '**missed**') : '—',
    };
  });
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The command that makes a block's result: the bench itself, or the bench with its variant's arguments. */
export function rerunCommand(name: string): string {
  const memory = /^worker-memory-(fake|real)$/.exec(name);
  if (memory) return `npm run bench -- worker-memory --engine ${memory[1]}`;
  const chaos = /^chaos-seed-(\d+)$/.exec(name);
  if (chaos) return `npm run bench -- chaos --seed ${chaos[1]}`;
  const fleet = /^fleet-w(\d+)-j(\d+)(?:-pool(\d+))?$/.exec(name);
  if (fleet) return `npm run bench -- fleet --workers ${fleet[1]} --jobs ${fleet[2]}${fleet[3] ? ` --pool ${fleet[3]}` : ''}`;
  return `npm run bench -- ${name}`;
}

/** The generated block of one bench: its newest result's figures, goals and where it ran. */
export function renderBench(results: BenchResult[], bench: string): string {
  const mine = results.filter((r) => r.bench === bench);
  const r = mine.at(-1);
  if (!r) return `No raw result yet: run \`${rerunCommand(bench)}\`, then \`npm run bench:report\`.`;
  const file = `${r.bench}-${r.startedAt.slice(0, 16).replace(/[-:]/g, '')}-${r.commit.slice(0, 7)}.json`;
  const lines = [
    `Measured ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC at commit \`${r.commit.slice(0, 10)}\`${r.dirty ? ' (with uncommitted changes)' : ''} — \`${cell(r.command)}\` — raw: [docs/bench-results/${file}](bench-results/${file}).`,
    `Machine: ${r.machine.cpus}× ${cell(r.machine.cpuModel)}, ${r.machine.memoryGiB} GiB, ${cell(r.machine.os)}, Node ${r.machine.node}, ${cell(r.machine.software)}; nice ${r.machine.nice}; load average ${r.load.start.join(' ')} at start, ${r.load.end.join(' ')} at end${r.sharedBox ? ' — **taken on a shared box** (other work running): slower than a quiet machine' : ''}.`,
    ...(r.outcome ? ['', `**Outcome:** ${cell(r.outcome)}${/[.!]$/.test(r.outcome) ? '' : '.'}`] : []),
    '',
    '| figure | statistic | value | samples | goal | |',
    '|---|---|---:|---:|---|---|',
    ...rows(r).map((x) => `| ${cell(x.figure)} | ${x.stat} | ${x.value} | ${x.n} | ${cell(x.goal)} | ${x.verdict} |`),
  ];
  return lines.join('\n');
}

/** Every result's goal figures, newest first: figure, value, verdict, commit, date. */
export function renderHistory(results: BenchResult[]): string {
  const out = ['| date (UTC) | bench | figure | value | goal | commit | shared box |', '|---|---|---|---:|---|---|---|'];
  for (const r of [...results].reverse()) {
    for (const x of rows(r)) {
      if (x.goal === '—') continue;
      out.push(`| ${r.startedAt.slice(0, 10)} | ${r.bench} | ${cell(x.figure)} (${x.stat}) | ${x.value} | ${x.verdict} | \`${r.commit.slice(0, 7)}\` | ${r.sharedBox ? 'yes' : 'no'} |`);
    }
  }
  if (out.length === 2) out.push('| — | — | no results yet | — | — | — | — |');
  return out.join('\n');
}

const MARK = /<!-- bench:([\w-]+) -->\n[\s\S]*?<!-- \/bench:\1 -->/g;

/** The document with every marked block regenerated from `results`. */
export function regenerate(doc: string, results: BenchResult[]): string {
  return doc.replace(MARK, (_m, name: string) => `<!-- bench:${name} -->\n${name === 'history' ? renderHistory(results) : renderBench(results, name)}\n<!-- /bench:${name} -->`);
}

/** The names of the marked blocks in a document. */
export const markedBlocks = (doc: string): string[] => [...doc.matchAll(MARK)].map((m) => m[1]!);
