#!/usr/bin/env node
// The `warden` command (`npm run warden -- …`, `npx warden …`). Runs bin/warden.ts as one
// JavaScript bundle cached under node_modules/.cache/warden-cli/<stamp of the sources>, built by
// esbuild on first use and again whenever a source changes, as bin/prestart.mjs does for `next build`.
// Transpiling on every run (tsx) cost 2 s a command on an idle box; the bundle starts in ~0.2 s.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// WARDEN_CLI_CACHE: another cache directory (tests use a fresh one).
const cacheRoot = process.env.WARDEN_CLI_CACHE || path.join(root, 'node_modules', '.cache', 'warden-cli');
// What the bundle is built from: the CLI, the client, the server modules the admin commands use.
const SOURCES = ['bin', 'client', 'server'];

/** A fingerprint of every source file (path, size, mtime): any change, even to an older mtime, makes a new one. */
function sourceStamp() {
  const h = crypto.createHash('sha1');
  const pkg = fs.statSync(path.join(root, 'package.json'));
  h.update(`package.json ${pkg.size} ${pkg.mtimeMs}\n`);
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
      else if (/\.(ts|mts|js|mjs|json)$/.test(e.name)) {
        const st = fs.statSync(p);
        h.update(`${p} ${st.size} ${st.mtimeMs}\n`);
      }
    }
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Builds the bundle of these sources into its own directory, named by their stamp. Never replaced
 * or removed while in use: two commands starting at once each build into a temporary directory and
 * the first rename wins (the other's build is the same sources and is dropped); a command still
 * running an older bundle (a `list --watch`) keeps its files, since it may load a chunk later.
 */
function build(outDir) {
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
  try {
    fs.renameSync(tmp, outDir);
  } catch {
    // Another command's build of the same sources got there first: use that one.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // Bundles of older sources, unused for a day (no command runs that long on one), are removed.
  for (const e of fs.readdirSync(cacheRoot, { withFileTypes: true })) {
    const p = path.join(cacheRoot, e.name);
    if (p === outDir || !e.isDirectory()) continue;
    if (Date.now() - fs.statSync(p).mtimeMs > 24 * 3600_000) fs.rmSync(p, { recursive: true, force: true });
  }
}

const outDir = path.join(cacheRoot, sourceStamp());
const entry = path.join(outDir, 'warden.mjs');
if (!fs.existsSync(entry)) {
  fs.mkdirSync(cacheRoot, { recursive: true });
  build(outDir);
}
await import(pathToFileURL(entry).href);
