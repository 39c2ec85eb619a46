#!/usr/bin/env node
// `npm start` = this, then `next start`. Builds the app when there is no build yet, or when the
// sources are newer than the build, so `npm install && npm start` works on a fresh clone.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// The port first: `next start` on a port in use would still run instrumentation (database,
// worker) before failing to listen. Checked the way Next listens (all interfaces).
const port = Number(process.env.PORT || 3000);
if (Number.isInteger(port) && port > 0 && port < 65536) {
  const err = await new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (e) => resolve(e));
    s.listen(port, () => s.close(() => resolve(null)));
  });
  if (err) {
    const why = err.code === 'EADDRINUSE' ? 'is already in use (another Warden, or another server?)' : `cannot be used (${err.code ?? err.message})`;
    console.error(`Warden cannot start: PORT ${port} ${why}. Set PORT to a free port.`);
    process.exit(1);
  }
}

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

function staleReason() {
  if (!fs.existsSync(buildId)) return 'no build yet';
  const built = fs.statSync(buildId).mtimeMs;
  const src = Math.max(
    ...['app', 'components', 'server', 'drizzle'].map((d) => newestMtime(path.join(root, d))),
    ...['instrumentation.ts', 'next.config.js', 'package.json'].map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)),
  );
  return src > built ? 'sources changed since the last build' : null;
}

// Two starts at once (two test files spawning servers, two replicas from one checkout) must not
// run two `next build`s into one .next: take a lock directory (mkdir is atomic), and re-check
// once we hold it, since the other builder may have just finished.
const lock = path.join(root, '.next-build.lock');
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
if (staleReason()) {
  const until = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      // A lock older than 20 minutes belongs to a build that died.
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 20 * 60_000 || Date.now() > until) fs.rmSync(lock, { recursive: true, force: true });
      else sleep(500);
    }
  }
  try {
    const reason = staleReason();
    if (reason) {
      console.log(`Warden: building the app (${reason})…`);
      const r = spawnSync('npx', ['next', 'build'], { stdio: 'inherit', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
      if (r.status !== 0) process.exitCode = r.status ?? 1;
    }
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
