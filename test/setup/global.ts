import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { runMigrations } from '../../server/db/client';
import { startEmbeddedPostgres } from '../../server/db/embedded';

/**
 * One real PostgreSQL for the whole run (embedded, fresh data dir), with a migrated template
 * database; each test file clones its own database from it (test/helpers/db.ts).
 * Docker: the local test image is built when an engine answers; REQUIRE_DOCKER=1 (CI) makes a
 * missing engine a loud failure instead of a skip.
 */
export default async function setup(project: TestProject) {
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
