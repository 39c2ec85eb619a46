import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../server/db/embedded';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { ensureBuilt, removeContainers, stopServer, until } from './helpers/warden-server';

/**
 * The README's commands, run: every fenced ```sh block, against a real server started the way the
 * README says (`npm start`, from this checkout), so the front door cannot rot.
 *
 * - The first block (`npm install && npm start`, `npm test`) is run as: `npm install --dry-run
 *   --offline` (the lockfile installs as is), `npm start` (the server every later block talks to),
 *   and `npm test -- test/status.test.ts` (the suite's entry point, on one small file: the whole
 *   suite inside one of its own tests would recurse).
 * - Every other block runs in order in one bash (`set -euo pipefail`), with two substitutions: the
 *   server's address for http://localhost:3000, and the locally built test image for busybox:1.36
 *   (no registry is reachable from the tests).
 * - Blocks fenced ```shell are not run here: "Running on Kubernetes" needs a cluster, and
 *   test/k8s/rbac.test.ts applies its yaml to the real test cluster with kubectl.
 */

const REPO = path.resolve(__dirname, '..');
const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
const BLOCKS = [...README.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
const hasDocker = dockerAvailable();
const NODE = `readme-${crypto.randomBytes(3).toString('hex')}`;
const ADMIN_PASSWORD = `readme-${crypto.randomBytes(6).toString('hex')}`;

const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'TEST' && k !== 'NODE_ENV') env[k] = v;
  delete env.DATABASE_URL;
  return { ...env, ...extra } as NodeJS.ProcessEnv;
};

describe('the README', () => {
  it('is a front door: under 250 lines, with its reference in docs/', () => {
    expect(README.split('\n').length).toBeLessThan(250);
    for (const f of ['CONFIGURATION', 'API', 'CLI', 'OPERATIONS', 'SECURITY', 'BENCHMARKS']) {
      expect(README).toContain(`docs/${f}.md`);
      expect(fs.existsSync(path.join(REPO, 'docs', `${f}.md`)), f).toBe(true);
    }
    expect(BLOCKS.length).toBeGreaterThanOrEqual(5);
    expect(BLOCKS[0]).toMatch(/^npm install && npm start\s.*\nnpm test\s/);
  });

  it('shows only screenshots that exist', () => {
    const images = [...README.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(0);
    for (const img of images) expect(fs.existsSync(path.join(REPO, img)), img).toBe(true);
  });
});

describe.skipIf(!hasDocker)('the README, run against a real server', () => {
  let server: ChildProcess | null = null;
  let dataDir = '';
  let base = '';
  let port = 0;

  beforeAll(async () => {
    await ensureBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-readme-'));
    fs.chmodSync(dataDir, 0o755);
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
  }, 1_200_000);

  afterAll(async () => {
    if (server) await stopServer(server, dataDir, null);
    // The tour's containers (this server's node only), whatever state the test left them in.
    removeContainers(`warden.node=${NODE}`);
  }, 120_000);

  const env = () =>
    cleanEnv({
      PORT: String(port),
      WARDEN_DATA_DIR: dataDir,
      WARDEN_ADMIN_EMAIL: 'admin@warden.local',
      WARDEN_ADMIN_PASSWORD: ADMIN_PASSWORD,
      WARDEN_NODE_ID: NODE,
      LOG_LEVEL: 'warn',
      NEXT_TELEMETRY_DISABLED: '1',
    });

  it('"npm install && npm start" and "npm test"', async () => {
    const install = spawnSync('npm', ['install', '--dry-run', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8', env: cleanEnv({}) });
    expect(install.status, install.stderr).toBe(0);
    const e = env();
    fs.mkdirSync(path.join(REPO, 'test-results'), { recursive: true });
    const log = fs.createWriteStream(path.join(REPO, 'test-results/readme-server.log'));
    server = spawn('npm', ['start'], { cwd: REPO, env: e, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.pipe(log);
    server.stderr!.pipe(log);
    await until('npm start to answer', async () => {
      if (server!.exitCode != null) throw new Error(`npm start exited with ${server!.exitCode}; see test-results/readme-server.log`);
      return (await fetch(`${base}/api/health`).catch(() => null))?.status === 200;
    }, 300_000, 500);
    const test = spawnSync('npm', ['test', '--', 'test/status.test.ts'], { cwd: REPO, encoding: 'utf8', env: cleanEnv({}) });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/Tests\s+\d+ passed/);
  }, 600_000);

  it('the tour: every other ```sh block, in order, in one shell', async () => {
    expect(server, 'npm start must be running').not.toBeNull();
    const script = BLOCKS.slice(1)
      .join('\n')
      .replaceAll('http://localhost:3000', base)
      .replaceAll('busybox:1.36', TEST_IMAGE);
    const r = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: REPO, encoding: 'utf8', env: env(), timeout: 540_000 });
    const out = r.stdout;
    expect(r.status, `${out}\n${r.stderr}`).toBe(0);
    // Keys as they really are.
    expect(out).toMatch(/user key wd_u_…, operator key wd_o_…/);
    // The job that timed out: its id and states on stderr, then exit code 124.
    expect(r.stderr).toMatch(/warden: job \S+ running/);
    expect(r.stderr).toMatch(/warden: job \S+ timed out after 5s/);
    expect(out).toContain('exit code 124');
    // The extended job: 120 + 60 s, then killed; the audit shows both, with their reasons.
    expect(out).toMatch(/nightly\s+running\s+-\s+\S+\s+(\d+m\d*s?|\d+s)\s+180s \(job\)/);
    expect(out).toMatch(/job\.extend\s+needs a minute more/);
    expect(out).toMatch(/job\.kill\s+done with the tour/);
    // The mistake, explained.
    expect(out).toContain('{"error":{"code":"validation_failed","message":"Unknown field \\"timeout\\" (did you mean \\"timeoutSeconds\\"?)","field":"timeout"}}');
  }, 600_000);
});
