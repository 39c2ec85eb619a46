// Runs a TypeScript entry point as one JavaScript bundle cached under node_modules/.cache/<name>,
// built by esbuild on first use and again whenever a source is newer than the bundle, as
// bin/prestart.mjs does for `next build`. Used by the `warden` CLI (bin/warden.mjs) and
// `npm run worker` (bin/worker.mjs): transpiling on every start (tsx) costs seconds of CPU and,
// for a long-running worker, ~90 MB of resident memory (tsx's loader, its source maps) that a
// bundle does not.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function newestSource(sources) {
  let newest = fs.statSync(path.join(root, 'package.json')).mtimeMs;
  const stack = sources.map((d) => path.join(root, d));
  while (stack.length) {
    const d = stack.pop();
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (/\.(ts|mts|js|mjs|json)$/.test(e.name)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  }
  return newest;
}

function build(entry, outDir, what) {
  // Built into a fresh directory, then swapped in by rename: two processes starting at once each
  // build their own, and neither ever runs a half-written bundle. Splitting keeps dynamic imports
  // (the Kubernetes runtime and its client) in chunks of their own, loaded only when used.
  const tmp = `${outDir}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `require('esbuild').buildSync({ entryPoints: [${JSON.stringify(entry)}], outdir: ${JSON.stringify(tmp)},
        bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external',
        outExtension: { '.js': '.mjs' }, logLevel: 'error', legalComments: 'none' })`,
    ],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.error(`warden: could not build ${what} (see above)`);
    process.exit(1);
  }
  fs.rmSync(outDir, { recursive: true, force: true });
  try {
    fs.renameSync(tmp, outDir);
  } catch {
    // Another process swapped its build in first: it is the same sources; use that one.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Builds bin/<file>.ts into node_modules/.cache/<name> when stale, then runs it. */
export async function runBundled({ name, file, sources, what }) {
  const outDir = path.join(root, 'node_modules', '.cache', name);
  const out = path.join(outDir, `${file}.mjs`);
  const builtAt = fs.statSync(out, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (builtAt < newestSource(sources)) build(path.join(root, 'bin', `${file}.ts`), outDir, what);
  await import(pathToFileURL(out).href);
}
