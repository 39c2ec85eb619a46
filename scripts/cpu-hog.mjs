#!/usr/bin/env node
/**
 * A bounded CPU hog, to check that the suite does not depend on a quiet box (issue 20): one busy
 * loop per core (worker threads), at nice 0, that stops by itself after N minutes.
 *
 *   node scripts/cpu-hog.mjs [--minutes 10] [--cores <all>]
 *
 * Prints its pid on start; stop it early with `kill <pid>`. Run the suite (or one file) beside
 * it, e.g. `node scripts/cpu-hog.mjs --minutes 15 & npx vitest run test/idle.test.ts`.
 */
import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

if (!isMainThread) {
  // Spin in slices, so the thread notices the end without a timer.
  const end = workerData.end;
  let x = 0;
  while (Date.now() < end) for (let i = 0; i < 1e6; i++) x = (x * 1103515245 + 12345) % 2147483647;
  parentPort.postMessage(x);
} else {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const minutes = arg('minutes', 10);
  const cores = arg('cores', os.availableParallelism());
  if (!(minutes > 0 && minutes <= 240) || !(cores >= 1 && cores <= 256)) {
    console.error('usage: node scripts/cpu-hog.mjs [--minutes 1..240] [--cores N]');
    process.exit(2);
  }
  // nice 0: as busy as any other process, not politely behind them.
  try {
    os.setPriority(0);
  } catch {
    /* started niced: an unprivileged process cannot raise its priority back */
  }
  const end = Date.now() + minutes * 60_000;
  const threads = Array.from({ length: cores }, () => new Worker(new URL(import.meta.url), { workerData: { end } }));
  console.log(`cpu-hog pid ${process.pid}: ${cores} busy threads at nice ${os.getPriority()} until ${new Date(end).toISOString()}`);
  const stop = () => {
    for (const t of threads) void t.terminate();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await Promise.all(threads.map((t) => new Promise((r) => t.on('exit', r))));
  console.log(`cpu-hog pid ${process.pid}: done`);
}
