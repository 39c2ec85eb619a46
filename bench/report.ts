/**
 * `npm run bench:report`: regenerates every `<!-- bench:NAME -->` block of docs/BENCHMARKS.md
 * from the raw results in docs/bench-results/ (the newest file of each bench; the history block
 * from all of them). `--check` changes nothing and exits 1 when the document is not what the
 * files give (test/bench.report.test.ts runs the same comparison).
 */
import fs from 'node:fs';
import { BENCHMARKS_MD, readResults, regenerate } from './results';

const doc = fs.readFileSync(BENCHMARKS_MD, 'utf8');
const next = regenerate(doc, readResults());
if (process.argv.includes('--check')) {
  if (next !== doc) {
    console.error('docs/BENCHMARKS.md does not match docs/bench-results/: run `npm run bench:report`');
    process.exit(1);
  }
  console.error('docs/BENCHMARKS.md matches docs/bench-results/');
} else if (next !== doc) {
  fs.writeFileSync(BENCHMARKS_MD, next);
  console.error('wrote docs/BENCHMARKS.md');
} else {
  console.error('docs/BENCHMARKS.md already matches docs/bench-results/');
}
