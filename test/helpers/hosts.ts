import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDockerRuntime } from '../../server/docker/runtime';
import type { DockerRuntime } from '../../server/docker/types';
import { waitFor } from './fixtures';

/** (test/helpers/docker.ts says it too, but imports vitest; the chaos benchmark uses this module.) */
const TEST_IMAGE = 'warden-test/busybox:latest';

/**
 * Real failing hosts for tests and the chaos benchmark: a second Docker engine of our own (so it
 * can be stopped and restarted without touching the machine's engine, which everybody shares),
 * and worker processes (`bin/worker.ts`, what `npm run worker` runs) that can be SIGKILLed, given
 * a skewed clock (libfaketime) or another host name (a UTS namespace).
 *
 * The engine follows the recipe that keeps it apart from the system one: its own socket,
 * --data-root, --exec-root and --pidfile, no bridge and no iptables, its own /etc/docker (bind-
 * mounted in a private mount namespace: its own key.json, so its own engine ID) and its own
 * network namespace (an engine with --bridge=none in the host's would delete docker0 under the
 * system engine). Containers there need network `none`.
 */

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** What these helpers need of the machine; CI (REQUIRE_DOCKER=1) fails loudly when one is missing. */
export function hostPrerequisites(o: { faketime?: boolean } = {}): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (a second dockerd needs it)');
  for (const bin of ['dockerd', 'unshare', 'docker']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status !== 0) missing.push(bin);
  }
  if (o.faketime && !fs.existsSync(FAKETIME_LIB)) missing.push(`libfaketime (${FAKETIME_LIB}; Debian package faketime)`);
  return missing;
}

export function requireHostPrerequisites(o: { faketime?: boolean } = {}): void {
  const missing = hostPrerequisites(o);
  if (missing.length > 0) throw new Error(`these tests need: ${missing.join(', ')}`);
}

export interface Engine {
  dir: string;
  /** DOCKER_HOST for it. */
  host: string;
  /** Its engine ID (`docker info` → ID). */
  id: string;
  runtime: DockerRuntime;
  /** `docker -H <host> …`, stdout. */
  docker(...args: string[]): string;
  isUp(): boolean;
  /** Starts it again after stop(). */
  start(): Promise<void>;
  /** SIGTERM and wait: a clean engine stop (running containers are stopped by the engine). */
  stop(): Promise<void>;
  /** Removes every container on it, stops it and deletes its directory. */
  close(): Promise<void>;
}

/** `prefix`: the directory's name starts with it (fleet tests use their own, /tmp/fleet-*). */
export async function startEngine(tag: string, o: { images?: string[]; prefix?: string } = {}): Promise<Engine> {
  requireHostPrerequisites();
  const dir = path.join(os.tmpdir(), `${o.prefix ?? 'warden-hosts'}-${tag}-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  const host = `unix://${dir}/docker.sock`;
  const docker = (...args: string[]) => execFileSync('docker', ['-H', host, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  let proc: ChildProcess | null = null;
  const answers = () => {
    try {
      docker('info', '--format', '{{.ID}}');
      return true;
    } catch {
      return false;
    }
  };
  const start = async () => {
    const log = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
    const cmd =
      `mount --bind ${dir}/etc /etc/docker && exec dockerd -H ${host} --data-root ${dir}/data --exec-root ${dir}/exec ` +
      `--pidfile ${dir}/pid --bridge=none --iptables=false --ip-masq=false`;
    proc = spawn('unshare', ['-m', '-n', 'sh', '-c', cmd], { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const p = proc;
    p.unref();
    await waitFor(() => (p.exitCode !== null ? Promise.reject(new Error(`dockerd exited: ${tail(dir)}`)) : answers()), {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: `second dockerd (${dir}) to answer`,
    });
  };
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    process.kill(p.pid!, 'SIGTERM');
    await gone;
    proc = null;
  };
  await start();
  for (const image of o.images ?? [TEST_IMAGE]) {
    execFileSync('sh', ['-c', `docker save ${image} | docker -H ${host} load`], { stdio: 'ignore' });
  }
  const id = docker('info', '--format', '{{.ID}}').trim();
  return {
    dir,
    host,
    id,
    runtime: createDockerRuntime({ dockerHost: host }),
    docker,
    isUp: () => !!proc && proc.exitCode === null && proc.signalCode === null && answers(),
    start,
    stop,
    async close() {
      if (!proc) await start().catch(() => {});
      try {
        const ids = docker('ps', '-aq').split('\n').filter(Boolean);
        if (ids.length > 0) docker('rm', '-f', ...ids);
      } catch {
        /* engine gone: its directory goes below anyway */
      }
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tail(dir: string): string {
  try {
    return fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface WorkerProc {
  proc: ChildProcess;
  out: string[];
  text(): string;
  /** SIGTERM (or the given signal), waiting for the exit; SIGKILL after 15 s. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  exited(): Promise<number | null>;
}

export interface WorkerOptions {
  databaseUrl: string;
  dockerHost?: string;
  nodeId?: string;
  /** e.g. '+90s': the worker's clock runs that far ahead (libfaketime). */
  faketime?: string;
  /** Run under another host name (its own UTS namespace). */
  hostname?: string;
  env?: Record<string, string>;
}

/** A worker process: `node bin/worker.mjs` (what `npm run worker` runs: the bundled bin/worker.ts), one process, so SIGKILL hits it. */
export function spawnWorker(o: WorkerOptions): WorkerProc {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV' && k !== 'TEST') env[k] = v;
  delete env.WARDEN_NODE_ID;
  delete env.DOCKER_HOST;
  Object.assign(env, {
    DATABASE_URL: o.databaseUrl,
    WARDEN_DATA_DIR: path.join(os.tmpdir(), 'warden-hosts-unused'),
    WARDEN_TIMEOUT_SWEEP_S: '1',
    WARDEN_TTL_SWEEP_S: '2',
    WARDEN_ORPHAN_SWEEP_S: '2',
    WARDEN_ADMIN_EMAIL: 'admin@hosts.test',
    WARDEN_ADMIN_PASSWORD: 'hosts-password',
    LOG_LEVEL: 'warn',
    // Node capacity defaults to the engine's CPU count, and the plans' cpus caps (1, 2, 4) would
    // let a 2-core test machine run one or two jobs at a time: tests that are not about capacity
    // overcommit (the fleet test sets its own).
    WARDEN_NODE_CPU_OVERCOMMIT: '16',
    ...(o.dockerHost ? { DOCKER_HOST: o.dockerHost } : {}),
    ...(o.nodeId ? { WARDEN_NODE_ID: o.nodeId } : {}),
    ...(o.faketime ? { LD_PRELOAD: FAKETIME_LIB, FAKETIME: o.faketime, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' } : {}),
    ...o.env,
  });
  const node = [process.execPath, 'bin/worker.mjs'];
  const [cmd, args] = o.hostname
    ? ['unshare', ['-u', 'sh', '-c', `hostname ${o.hostname} && exec "$@"`, 'sh', ...node]]
    : [node[0]!, node.slice(1)];
  const proc = spawn(cmd as string, args as string[], { cwd: process.cwd(), env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    out,
    text: () => out.join(''),
    exited: () => exit,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(t);
    },
  };
}

/** Removes every container of this installation on the engine (a test's own, by label). */
/** Several engines at once (started one after another: each dockerd start is CPU-heavy). */
export async function startEngines(n: number, o: { images?: string[]; prefix?: string } = {}): Promise<Engine[]> {
  const out: Engine[] = [];
  try {
    for (let i = 0; i < n; i++) out.push(await startEngine(`e${i}`, o));
  } catch (e) {
    for (const en of out) await en.close().catch(() => {});
    throw e;
  }
  return out;
}

export async function removeInstallationContainers(docker: DockerRuntime, installation: string): Promise<void> {
  for (const c of await docker.list({ 'warden.installation': installation })) await docker.remove(c.id);
}
