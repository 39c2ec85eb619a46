#!/usr/bin/env node
// `npm start` = this, then `next start`. Builds the app when there is no build yet, or when the
// sources are newer than the build, so `npm install && npm start` works on a fresh clone.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = process.cwd();
const buildId = path.join(root, '.next', 'BUILD_ID');

function newestMtime(dir) {
  let newest = 0;
  const stack = [dir];
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
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  }
  return newest;
}

let reason = null;
if (!fs.existsSync(buildId)) reason = 'no build yet';
else {
  const built = fs.statSync(buildId).mtimeMs;
  const src = Math.max(
    ...['app', 'components', 'server', 'drizzle'].map((d) => newestMtime(path.join(root, d))),
    ...['instrumentation.ts', 'next.config.js', 'package.json'].map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)),
  );
  if (src > built) reason = 'sources changed since the last build';
}
if (reason) {
  console.log(`Warden: building the app (${reason})…`);
  const r = spawnSync('npx', ['next', 'build'], { stdio: 'inherit', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
