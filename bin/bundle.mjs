// Runs a TypeScript entry point as one JavaScript bundle cached under node_modules/.cache/<name>/<stamp>,
// built by esbuild on first use and again whenever a source changes (a new stamp), as
// bin/prestart.mjs does for `next build`. Used by the `warden` CLI (bin/warden.mjs) and
// `npm run worker` (bin/worker.mjs): transpiling on every start (tsx) costs seconds of CPU and,
// for a long-running worker, ~90 MB of resident memory (tsx's loader, its source maps) that a
// bundle does not.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A fingerprint of every source file (path, size, mtime to the millisecond, as a restored Date keeps it): any change, even to an older mtime, makes a new one. */
function sourceStamp(sources) {
  const h = crypto.createHash('sha1');
  const pkg = fs.statSync(path.join(root, 'package.json'));
  h.update(`package.json ${pkg.size} ${Math.trunc(pkg.mtimeMs)}\n`);
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
      else if (/\.(ts|mts|js|mjs|json)$/.test(e.name)) {
        const st = fs.statSync(p);
        h.update(`${p} ${st.size} ${Math.trunc(st.mtimeMs)}\n`);
      }
    }
  }
  return h.digest('hex').slice(0, 16);
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
  // Never replaced or removed while in use: the first rename wins (another process's build of the
  // same sources is dropped); a process still running an older bundle (a worker, a `list --watch`)
  // keeps its files, since it may load a chunk later.
  try {
    fs.renameSync(tmp, outDir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // Bundles of older sources, unused for a day, are removed.
  const cacheRoot = path.dirname(outDir);
  for (const e of fs.readdirSync(cacheRoot, { withFileTypes: true })) {
    const p = path.join(cacheRoot, e.name);
    if (p === outDir || !e.isDirectory() || e.name.endsWith('.tmp')) continue;
    if (Date.now() - fs.statSync(p).mtimeMs > 24 * 3600_000) fs.rmSync(p, { recursive: true, force: true });
  }
}

/**
 * Builds bin/<file>.ts into node_modules/.cache/<name>/<stamp of the sources> unless that bundle
 * exists, then runs it. `cacheEnv`: an environment variable naming another cache directory (tests).
 */
export async function runBundled({ name, file, sources, what, cacheEnv }) {
  const cacheRoot = (cacheEnv && process.env[cacheEnv]) || path.join(root, 'node_modules', '.cache', name);
  const outDir = path.join(cacheRoot, sourceStamp(sources));
  const out = path.join(outDir, `${file}.mjs`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(cacheRoot, { recursive: true });
    build(path.join(root, 'bin', `${file}.ts`), outDir, what);
  }
  await import(pathToFileURL(out).href);
}
