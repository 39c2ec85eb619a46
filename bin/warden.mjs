#!/usr/bin/env node
// The `warden` command (`npm run warden -- …`, `npx warden …`). Runs bin/warden.ts as one
// JavaScript bundle cached under node_modules/.cache/warden-cli, built by esbuild on first use and
// again whenever a source is newer than the bundle, as bin/prestart.mjs does for `next build`.
// Transpiling on every run (tsx) cost 2 s a command on an idle box; the bundle starts in ~0.2 s.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'node_modules', '.cache', 'warden-cli');
const entry = path.join(outDir, 'warden.mjs');
// What the bundle is built from: the CLI, the client, the server modules the admin commands use.
const SOURCES = ['bin', 'client', 'server'];

function newestSource() {
  let newest = fs.statSync(path.join(root, 'package.json')).mtimeMs;
  const stack = SOURCES.map((d) => path.join(root, d));
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

function build() {
  // Built into a fresh directory, then swapped in by rename: two commands starting at once each
  // build their own, and neither ever runs a half-written bundle.
  const tmp = `${outDir}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `require('esbuild').buildSync({ entryPoints: [${JSON.stringify(path.join(root, 'bin', 'warden.ts'))}], outdir: ${JSON.stringify(tmp)},
        bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external',
        outExtension: { '.js': '.mjs' }, logLevel: 'error', legalComments: 'none' })`,
    ],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.error('warden: could not build the CLI (see above)');
    process.exit(1);
  }
  fs.rmSync(outDir, { recursive: true, force: true });
  try {
    fs.renameSync(tmp, outDir);
  } catch {
    // Another command swapped its build in first: it is the same sources; use that one.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const builtAt = fs.statSync(entry, { throwIfNoEntry: false })?.mtimeMs ?? 0;
if (builtAt < newestSource()) build();
await import(pathToFileURL(entry).href);
