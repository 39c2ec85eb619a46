import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { runMigrations } from '../../server/db/client';
import { startEmbeddedPostgres } from '../../server/db/embedded';
import { describeProcess, REPO_DATA, repoPgOwner, repoPostmaster } from './repo-data';

/**
 * One real PostgreSQL for the whole run (embedded, fresh data dir), with a migrated template
 * database; each test file clones its own database from it (test/helpers/db.ts).
 * Docker: the local test image is built when an engine answers; REQUIRE_DOCKER=1 (CI) makes a
 * missing engine a loud failure instead of a skip.
 */
export default async function setup(project: TestProject) {
  // A PostgreSQL started in the repo's own ./.data during the run (repo-data.ts): name who started
  // it while that process still lives, and stop it at the end. One there before the run (a
  // developer's `npm start`) is left alone.
  const before = repoPgOwner();
  const hadRepoData = fs.existsSync(REPO_DATA);
  let leak = '';
  const watch = setInterval(() => {
    const owner = repoPgOwner();
    if (leak || !owner || owner.startedAt === before?.startedAt) return;
    leak = `started ${owner.startedAt} by pid ${owner.pid}: ${describeProcess(owner.pid) || 'already gone'}`;
  }, 500);
  watch.unref();
  const base = path.join(os.tmpdir(), `warden-test-${process.pid}`);
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  fs.chmodSync(base, 0o755);
  let url = process.env.TEST_DATABASE_URL;
  let stop = async () => {};
  if (!url) {
    const h = await startEmbeddedPostgres(base, { shareRunning: false });
    url = h.url;
    stop = h.stop;
  }
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe('drop database if exists warden_template');
  await admin.unsafe('create database warden_template');
  await runMigrations(url.replace(/\/[^/?]*(\?|$)/, '/warden_template$1'));
  await admin.end();
  project.provide('pgUrl', url);

  let dockerOk = false;
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    dockerOk = true;
  } catch {
    dockerOk = false;
  }
  if (!dockerOk && process.env.REQUIRE_DOCKER === '1') {
    throw new Error('REQUIRE_DOCKER=1 but no Docker engine answers `docker info`. Start dockerd first.');
  }
  if (dockerOk) {
    execFileSync('bash', [path.join(__dirname, '../fixtures/build-busybox-image.sh')], { stdio: 'inherit' });
  } else {
    console.warn('\n!!! No Docker engine: Docker integration tests will be SKIPPED (set REQUIRE_DOCKER=1 to fail instead)\n');
  }
  project.provide('dockerOk', dockerOk);

  return async () => {
    clearInterval(watch);
    const owner = repoPgOwner();
    if (owner && owner.startedAt !== before?.startedAt) {
      console.warn(`\n!!! The run started an embedded PostgreSQL in the repo's own ./.data (${leak || `started ${owner.startedAt} by pid ${owner.pid}`}); stopping it\n`);
      const pid = repoPostmaster();
      if (pid) process.kill(pid, 'SIGINT');
      for (let i = 0; i < 150 && repoPostmaster(); i++) await new Promise((r) => setTimeout(r, 100));
      if (!hadRepoData) fs.rmSync(REPO_DATA, { recursive: true, force: true });
    }
    await stop();
    fs.rmSync(base, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    dockerOk: boolean;
  }
}
