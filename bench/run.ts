/**
 * `npm run bench -- <name> [args…]`: runs bench/<name>.ts; its raw result goes to
 * docs/bench-results/ and `npm run bench:report` makes the tables of docs/BENCHMARKS.md from it.
 * Without a name, lists the benchmarks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NOT_BENCHES } from './results';

const dir = path.dirname(new URL(import.meta.url).pathname);
const names = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !NOT_BENCHES.includes(f))
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...args] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <name> [args…]\nbenchmarks: ${names.join(', ')}`);
  process.exit(name ? 2 : 0);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, `${name}.ts`), ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
