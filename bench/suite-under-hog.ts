/**
 * The whole suite under a CPU hog (issue 20 §4): `npm test` (vitest, every file of test/, with
 * REQUIRE_DOCKER=1 and REQUIRE_BROWSER=1, as CI runs it) N times in a row, each run beside
 * scripts/cpu-hog.mjs keeping every core busy at nice 0. A suite that leans on timing fails here.
 * Its figures are the tests failed or skipped in each run (goal: none) and each run's wall time.
 *
 *   npm run bench -- suite-under-hog [--runs 3] [--no-write]
 *
 * Run it from a checkout nobody edits meanwhile (vitest reads the files as it goes).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { arg, beginResult, runMain } from './lib';

const RUNS = Number(arg('runs', '3'));
/** The hog's own bound: it stops by itself even if this script dies. */
const HOG_MINUTES = 120;

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { name: string; status: string; assertionResults: { fullName: string; status: string }[] }[];
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: 'inherit', env });
    p.on('error', reject);
    p.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function main() {
  if (!(Number.isInteger(RUNS) && RUNS >= 1 && RUNS <= 10)) throw new Error('--runs must be 1..10');
  const result = beginResult('suite-under-hog', 'The suite under a CPU hog', 'suite-under-hog.ts');
  const outDir = path.join(process.cwd(), 'test-results');
  fs.mkdirSync(outDir, { recursive: true });
  const seconds: number[] = [];
  const failed: number[] = [];
  const skipped: number[] = [];
  const passed: number[] = [];
  const failures: string[] = [];
  for (let i = 1; i <= RUNS; i++) {
    const hog = spawn(process.execPath, ['scripts/cpu-hog.mjs', '--minutes', String(HOG_MINUTES)], { stdio: ['ignore', 'inherit', 'inherit'] });
    const hogExit = new Promise((r) => hog.on('exit', r));
    const json = path.join(outDir, `suite-under-hog-${i}.json`);
    fs.rmSync(json, { force: true });
    const t0 = performance.now();
    let code: number;
    try {
      code = await run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${json}`], {
        ...process.env,
        CI: 'true',
        REQUIRE_DOCKER: '1',
        REQUIRE_BROWSER: '1',
      });
    } finally {
      hog.kill('SIGTERM');
      await hogExit;
    }
    const secs = (performance.now() - t0) / 1000;
    seconds.push(secs);
    const r = fs.existsSync(json) ? (JSON.parse(fs.readFileSync(json, 'utf8')) as VitestJson) : undefined;
    // Failed tests, plus a file that failed outside any test (its import or a hook); a run that
    // wrote no report, or exited non-zero with nothing failed in it, counts as one failure.
    const filesFailedOutsideTests = (r?.testResults ?? []).filter((t) => t.status === 'failed' && !t.assertionResults.some((a) => a.status === 'failed')).length;
    const f = r ? r.numFailedTests + filesFailedOutsideTests : 1;
    failed.push(code !== 0 && f === 0 ? 1 : f);
    skipped.push(r ? r.numPendingTests + r.numTodoTests : 0);
    passed.push(r?.numPassedTests ?? 0);
    for (const file of r?.testResults ?? []) {
      const bad = file.assertionResults.filter((a) => a.status === 'failed').map((a) => a.fullName);
      if (file.status === 'failed' && bad.length === 0) bad.push('(the file itself)');
      for (const b of bad) failures.push(`run ${i}: ${path.relative(process.cwd(), file.name)} › ${b}`);
    }
    console.error(`suite-under-hog: run ${i}/${RUNS}: ${passed.at(-1)} passed, ${failed.at(-1)} failed, ${skipped.at(-1)} skipped in ${secs.toFixed(0)} s (exit ${code})`);
  }
  result.series('failed', 'tests', failed);
  result.series('skipped', 'tests', skipped);
  result.series('passed', 'tests', passed);
  result.series('run_s', 's', seconds);
  const most = { text: 'none, in every run' };
  result.figure({ label: `tests failed in a run (most of ${RUNS} runs)`, series: 'failed', stat: 'max', goal: { max: 0, ...most } });
  result.figure({ label: `tests skipped in a run (most of ${RUNS} runs)`, series: 'skipped', stat: 'max', goal: { max: 0, ...most } });
  result.figure({ label: 'tests passed in a run (fewest)', series: 'passed', stat: 'min' });
  for (let i = 0; i < RUNS; i++) {
    const name = `run_${i + 1}_s`;
    result.series(name, 's', [seconds[i]!]);
    result.figure({ label: `run ${i + 1}: wall time of \`npm test\` beside the hog`, series: name, stat: 'last' });
  }
  const outcome = failures.length ? `failed: ${failures.slice(0, 20).join('; ')}${failures.length > 20 ? `; and ${failures.length - 20} more` : ''}` : undefined;
  const software = `vitest, ${os.availableParallelism()} hog threads at nice 0`;
  const { missed } = result.save({ runs: RUNS, hogThreads: os.availableParallelism() }, software, outcome);
  if (missed.length) {
    console.error(`missed: ${missed.join('; ')}`);
    process.exitCode = 1;
  }
}

runMain(main);
