import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCHMARKS_MD, benchOf, markedBlocks, NOT_BENCHES, readResults, regenerate, renderBench, rerunCommand, statOf, type BenchResult } from '../bench/results';

/**
 * docs/BENCHMARKS.md's tables are generated from docs/bench-results/ (`npm run bench:report`):
 * a table edited by hand, or a result file without its table regenerated, fails here. The
 * report's own rules are checked on a made-up result: p99 only from ≥ 200 samples, a missed goal
 * shown as missed.
 */

const BENCH_DIR = path.resolve(__dirname, '../bench');

function fakeResult(samples: number[], goalMax: number): BenchResult {
  return {
    bench: 'fake',
    title: 'Fake',
    command: 'npx tsx bench/fake.ts',
    commit: '0123456789abcdef0123456789abcdef01234567',
    dirty: false,
    startedAt: '2026-12-03T19:40:00.000Z',
    finishedAt: '2026-12-03T19:41:00.000Z',
    machine: { cpuModel: 'CPU', cpus: 2, memoryGiB: 24, os: 'Linux', node: 'v20', nice: 0, software: 'none' },
    load: { start: [3, 2, 1], end: [3, 2, 1] },
    sharedBox: true,
    params: {},
    series: [{ name: 'x', unit: 'ms', samples }],
    figures: [{ label: 'lateness', series: 'x', stat: 'p99', goal: { max: goalMax, text: `p99 ≤ ${goalMax} ms` } }],
  };
}

describe('bench report', () => {
  it('docs/BENCHMARKS.md matches the raw results (run `npm run bench:report` after a bench)', () => {
    const doc = fs.readFileSync(BENCHMARKS_MD, 'utf8');
    expect(regenerate(doc, readResults())).toBe(doc);
  });

  it('every bench has its block in docs/BENCHMARKS.md, and every result file names a bench that exists', () => {
    const doc = fs.readFileSync(BENCHMARKS_MD, 'utf8');
    const benches = fs.readdirSync(BENCH_DIR).filter((f) => f.endsWith('.ts') && !NOT_BENCHES.includes(f)).map((f) => f.slice(0, -3));
    const blocks = markedBlocks(doc).filter((b) => b !== 'history');
    // Every block is a bench's (or a variant's: worker-memory-fake), and every bench has one.
    expect(blocks.filter((b) => !benchOf(b, benches))).toEqual([]);
    expect(benches.filter((b) => !blocks.some((x) => benchOf(x, benches) === b))).toEqual([]);
    expect(markedBlocks(doc)).toContain('history');
    for (const r of readResults()) {
      expect(benchOf(r.bench, benches), `docs/bench-results: ${r.bench}`).toBeDefined();
      expect(blocks, `docs/bench-results: ${r.bench} has a block`).toContain(r.bench);
      expect(r.commit).toMatch(/^[0-9a-f]{40}$/);
      for (const s of r.series) expect(s.samples.every((x) => Number.isFinite(x)), `${r.bench} ${s.name}`).toBe(true);
    }
  });

  it('a table edited by hand is caught', () => {
    const doc = fs.readFileSync(BENCHMARKS_MD, 'utf8');
    const edited = doc.replace(/(<!-- bench:kill-lateness -->\n)/, '$1| made up | p99 | 42 ms |\n');
    expect(edited).not.toBe(doc);
    expect(regenerate(edited, readResults())).toBe(doc);
  });

  it('p99 only from 200 samples or more; below, "max of N"; a missed goal says missed and is kept', () => {
    const few = Array.from({ length: 199 }, (_, i) => i);
    expect(statOf({ label: 'x', series: 'x', stat: 'p99' }, few)).toEqual({ value: 198, stat: 'max of 199', n: 199 });
    const many = Array.from({ length: 200 }, (_, i) => i);
    expect(statOf({ label: 'x', series: 'x', stat: 'p99' }, many)).toEqual({ value: 197, stat: 'p99', n: 200 });
    const met = renderBench([fakeResult(many, 500)], 'fake');
    expect(met).toMatch(/\| lateness \| p99 \| 197 ms \| 200 \| p99 ≤ 500 ms \| met \|/);
    expect(met).toMatch(/taken on a shared box/);
    const missed = renderBench([fakeResult(few, 100)], 'fake');
    expect(missed).toMatch(/\| lateness \| max of 199 \| 198 ms \| 199 \| p99 ≤ 100 ms \| \*\*missed\*\* \|/);
  });

  it('a run that stopped before its end says where and why above its table; one that finished says nothing of the kind', () => {
    const stopped = renderBench([{ ...fakeResult([1, 2], 100), outcome: 'did not finish: stopped in claims, none started in the last 120 s' }], 'fake');
    expect(stopped).toMatch(/\n\*\*Outcome:\*\* did not finish: stopped in claims, none started in the last 120 s\.\n/);
    expect(renderBench([fakeResult([1, 2], 100)], 'fake')).not.toMatch(/Outcome/);
  });

  it('a block without a result names the command that makes it, with a variant\'s arguments', () => {
    expect(rerunCommand('dispatch')).toBe('npm run bench -- dispatch');
    expect(rerunCommand('worker-memory-real')).toBe('npm run bench -- worker-memory --engine real');
    expect(rerunCommand('chaos-seed-4')).toBe('npm run bench -- chaos --seed 4');
    expect(rerunCommand('fleet-w5-j100000')).toBe('npm run bench -- fleet --workers 5 --jobs 100000');
    expect(rerunCommand('fleet-w1-j500-pool24')).toBe('npm run bench -- fleet --workers 1 --jobs 500 --pool 24');
    expect(renderBench([], 'chaos-seed-1')).toContain('`npm run bench -- chaos --seed 1`');
  });
});
