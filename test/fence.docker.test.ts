import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The log cap is a setting (server/config.ts), read once per process: small here so a flood
// rotates within a second. Set before anything reads config().
process.env.WARDEN_CONTAINER_LOG_MAX_SIZE = '64k';
process.env.WARDEN_CONTAINER_LOG_MAX_FILES = '2';

import { plans, type Job, type Plan } from '../server/db/schema';
import { MANAGED_NETWORK } from '../server/docker/host-config';
import type { Actor } from '../server/domain/actor';
import { submitJob } from '../server/domain/jobs';
import { upsertPlan } from '../server/domain/plans';
import { dispatchOnce } from '../server/worker/dispatcher';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { ADMIN, makeUser } from './helpers/fixtures';
import { makeRig, waitFor, type Rig } from './helpers/sweepers';

/**
 * The container fence on the real engine: every setting checked with `docker inspect`, and the
 * attacks the issue names actually run — a fork flood against the pids cap, a log flood against
 * json-file rotation, a neighbour's port against the managed bridge — and stay inside.
 */

interface Inspect {
  HostConfig: {
    PidsLimit: number;
    NanoCpus: number;
    Memory: number;
    MemorySwap: number;
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    Privileged: boolean;
    Init: boolean;
    NetworkMode: string;
    Runtime: string;
    LogConfig: { Type: string; Config: Record<string, string> };
    Binds: string[] | null;
  };
  Config: { Labels: Record<string, string> };
  State: { Pid: number; Running: boolean };
  LogPath: string;
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}
const inspect = (id: string): Inspect => (JSON.parse(execFileSync('docker', ['inspect', id]).toString()) as Inspect[])[0]!;

/** The host-side cgroup directory of a container's pids controller (cgroup v1 or v2). */
function pidsCgroup(pid: number): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('pids'));
  if (v1) return `/sys/fs/cgroup/pids${v1.split(':')[2]}`;
  return `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::'))!.slice(3)}`;
}

const CAP = { SETPCAP: 8, NET_RAW: 13, SYS_CHROOT: 18, MKNOD: 27, AUDIT_WRITE: 29, SETFCAP: 31, CHOWN: 0, KILL: 5, SETUID: 7 } as const;
const hasCap = (hex: string, bit: number) => (BigInt(`0x${hex}`) >> BigInt(bit)) & 1n;

describe.skipIf(!dockerAvailable())('container fence on the real engine', () => {
  let rig: Rig;
  const RUN = crypto.randomBytes(3).toString('hex');
  const ICC_NET = `warden-test-icc-${RUN}`;

  beforeAll(async () => {
    rig = await makeRig();
    // A plain bridge (inter-container traffic on) for the control half of the ICC test; ours to remove.
    execFileSync('docker', ['network', 'create', '--label', `warden-test=${RUN}`, ICC_NET]);
  });
  afterAll(async () => {
    await rig?.close();
    execFileSync('docker', ['network', 'rm', ICC_NET], { stdio: 'ignore' });
  });

  /** A user on a plan of its own (name, fields straight into the row), for one test. */
  async function onPlan(fields: Partial<Plan>): Promise<Actor> {
    const name = `p-${crypto.randomBytes(3).toString('hex')}`;
    const u = await makeUser(rig.ctx, { plan: { name, maxConcurrentJobs: 10, maxTimeoutS: 3600, monthlyQuotaS: null, ...fields } });
    return u.actor;
  }

  /** Submits and dispatches until the job leaves queued/starting. */
  async function run(actor: Actor, body: Record<string, unknown>): Promise<Job> {
    const j = await submitJob(rig.ctx, actor, { image: TEST_IMAGE, timeoutSeconds: 600, ...body });
    return waitFor(async () => {
      await dispatchOnce(rig.ctx);
      const row = await rig.job(j.id);
      return row.status !== 'queued' && row.status !== 'starting' ? row : null;
    }, { what: `job ${j.id} to start` });
  }
  const output = (j: Job, needle: string | RegExp) =>
    waitFor(async () => {
      const text = await rig.docker.logsTail(j.containerId!);
      return (typeof needle === 'string' ? text.includes(needle) : needle.test(text)) ? text : null;
    }, { what: `${String(needle)} in the output of ${j.id}`, timeoutMs: 30_000 });

  it('docker inspect: plan caps, pids, log rotation, no-new-privileges, dropped capabilities, fenced labels', async () => {
    const actor = await onPlan({ cpus: 0.25, memoryMb: 96, pidsLimit: 77 });
    const j = await run(actor, {
      command: ['sh', '-c', 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; echo done; sleep 600'],
      labels: { 'traefik.enable': 'true', 'com.docker.compose.project': 'x', team: 'data' },
    });
    expect(j.status).toBe('running');
    // The job row keeps the labels as given.
    expect(j.labels).toEqual({ 'traefik.enable': 'true', 'com.docker.compose.project': 'x', team: 'data' });
    const c = inspect(j.containerId!);
    expect(c.HostConfig).toMatchObject({
      PidsLimit: 77,
      NanoCpus: 250_000_000,
      Memory: 96 * 1024 * 1024,
      MemorySwap: 96 * 1024 * 1024,
      Privileged: false,
      Init: true,
      NetworkMode: MANAGED_NETWORK.name,
      LogConfig: { Type: 'json-file', Config: { 'max-size': '64k', 'max-file': '2' } },
    });
    expect(c.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(c.HostConfig.CapDrop).toEqual(expect.arrayContaining(['NET_RAW', 'MKNOD', 'SYS_CHROOT', 'AUDIT_WRITE', 'SETFCAP', 'SETPCAP']));
    expect(c.HostConfig.CapAdd ?? []).toEqual([]);
    expect(c.HostConfig.Binds ?? []).toEqual([]);
    // Only Warden's namespace on the container: no traefik.*, no com.docker.compose.*.
    for (const k of Object.keys(c.Config.Labels)) expect(k.startsWith('warden.'), k).toBe(true);
    expect(c.Config.Labels).toMatchObject({ 'warden.label.traefik.enable': 'true', 'warden.label.com.docker.compose.project': 'x', 'warden.label.team': 'data' });
    // What the process itself holds.
    const text = await output(j, 'done');
    const eff = /CapEff:\s*([0-9a-f]+)/.exec(text)![1]!;
    const bnd = /CapBnd:\s*([0-9a-f]+)/.exec(text)![1]!;
    expect(text).toMatch(/NoNewPrivs:\s*1/);
    for (const cap of ['NET_RAW', 'MKNOD', 'SYS_CHROOT', 'AUDIT_WRITE', 'SETFCAP', 'SETPCAP'] as const) {
      expect(hasCap(eff, CAP[cap]), `${cap} effective`).toBe(0n);
      expect(hasCap(bnd, CAP[cap]), `${cap} bounding (cannot be regained)`).toBe(0n);
    }
    for (const cap of ['CHOWN', 'KILL', 'SETUID'] as const) expect(hasCap(eff, CAP[cap]), `${cap} kept`).toBe(1n);
  });

  it('a fork flood stops at the plan pids cap; the host keeps forking', async () => {
    const actor = await onPlan({ pidsLimit: 64, cpus: 0.5, memoryMb: 128 });
    // A subshell forks long sleepers until the kernel refuses (ash then exits, which is why a
    // classic `bomb | bomb &` can die out before it is measured); the sleepers hold the cap. The
    // main shell forks twice before the flood starts and then only waits (a builtin), so it lives.
    const j = await run(actor, { command: ['sh', '-c', 'sleep 600 & (while :; do sleep 600 & done) & wait'] });
    expect(j.status).toBe('running');
    const c = inspect(j.containerId!);
    expect(c.HostConfig.PidsLimit).toBe(64);
    const cg = pidsCgroup(c.State.Pid);
    const read = (f: string) => fs.readFileSync(`${cg}/${f}`, 'utf8').trim();
    expect(read('pids.max')).toBe('64');
    // The kernel refused a fork at the cap ("max N" counts refusals) ...
    await waitFor(() => Number(/max (\d+)/.exec(read('pids.events'))?.[1] ?? 0) >= 1, { what: 'the fork flood to hit the pids cap', timeoutMs: 30_000 });
    // ... and the container holds the cap (less the subshell that was refused) and never more.
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      samples.push(Number(read('pids.current')));
      execFileSync('true'); // the host still forks
    }
    expect(Math.max(...samples)).toBeLessThanOrEqual(64);
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(60);
    expect(inspect(j.containerId!).State.Running).toBe(true);
    await rig.docker.remove(j.containerId!);
  });

  it('a log flood of 20 MB keeps at most max-file × max-size on disk, and the tail stays readable', async () => {
    const actor = await onPlan({});
    const j = await run(actor, { command: ['sh', '-c', "yes $(printf '%0199d' 0) | head -c 20000000; echo flood-done; sleep 600"] });
    expect(j.status).toBe('running');
    await output(j, 'flood-done');
    const logPath = inspect(j.containerId!).LogPath;
    const dir = logPath.slice(0, logPath.lastIndexOf('/'));
    const base = logPath.slice(logPath.lastIndexOf('/') + 1);
    const files = fs.readdirSync(dir).filter((f) => f.startsWith(base));
    // Rotated at least once (the cap was reached), never more than max-file files.
    expect(files.length).toBe(2);
    const sizes = files.map((f) => fs.statSync(`${dir}/${f}`).size);
    // json-file rotates once a file reaches max-size; one JSON-wrapped line (~260 bytes) may overshoot.
    for (const s of sizes) expect(s).toBeLessThanOrEqual(64 * 1024 + 1024);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThan(20_000_000 / 100);
    await rig.docker.remove(j.containerId!);
  });

  it('managed bridge: inter-container traffic is off (a plain bridge lets the same connection through)', async () => {
    const onManaged = await onPlan({ network: 'warden' });
    const onPlain = await onPlan({ network: ICC_NET });
    const server = `while true; do echo hello-from-server | nc -l -p 7000; done`;
    const client = (ip: string) => `if nc -w 3 ${ip} 7000 > /tmp/o 2>&1 && grep -q hello /tmp/o; then echo CONNECTED; else echo NO-CONNECTION; fi; sleep 600`;
    const ipOf = (j: Job, net: string) => inspect(j.containerId!).NetworkSettings.Networks[net]!.IPAddress;

    const s1 = await run(onManaged, { command: ['sh', '-c', server] });
    const c1 = await run(onManaged, { command: ['sh', '-c', client(ipOf(s1, MANAGED_NETWORK.name))] });
    expect(await output(c1, /CONNECTED|NO-CONNECTION/)).toContain('NO-CONNECTION');

    const s2 = await run(onPlain, { command: ['sh', '-c', server] });
    const c2 = await run(onPlain, { command: ['sh', '-c', client(ipOf(s2, ICC_NET))] });
    expect(await output(c2, /CONNECTED|NO-CONNECTION/)).toContain('CONNECTED');
    expect(inspect(s2.containerId!).HostConfig.NetworkMode).toBe(ICC_NET);

    const net = JSON.parse(execFileSync('docker', ['network', 'inspect', MANAGED_NETWORK.name]).toString())[0] as { Driver: string; Options: Record<string, string>; Labels: Record<string, string> };
    expect(net).toMatchObject({ Driver: 'bridge', Options: { 'com.docker.network.bridge.enable_icc': 'false' }, Labels: { 'warden.managed': 'true' } });
    for (const j of [s1, c1, s2, c2]) await rig.docker.remove(j.containerId!);
  });

  it('network none: only the loopback interface', async () => {
    const j = await run(await onPlan({ network: 'none' }), { command: ['sh', '-c', 'echo IFACES $(ls /sys/class/net); sleep 600'] });
    expect(inspect(j.containerId!).HostConfig.NetworkMode).toBe('none');
    expect(await output(j, 'IFACES')).toMatch(/IFACES lo\s*$/m);
    await rig.docker.remove(j.containerId!);
  });

  it('runtime: one the engine lists is passed through; one it lacks is refused at plan save and at start', async () => {
    const ok = await run(await onPlan({ runtime: 'runc' }), { command: ['sleep', '600'] });
    expect(ok.status).toBe('running');
    expect(inspect(ok.containerId!).HostConfig.Runtime).toBe('runc');
    await rig.docker.remove(ok.containerId!);

    // Plan save asks the engine.
    await expect(upsertPlan(rig.ctx, ADMIN, 'sandboxed', { runtime: 'runsc' })).rejects.toMatchObject({
      status: 422,
      code: 'runtime_unavailable',
      field: 'runtime',
      message: expect.stringMatching(/OCI runtime "runsc" is not available .*it offers: .*runc/),
    });
    await expect(upsertPlan(rig.ctx, ADMIN, 'sandboxed', { network: `no-such-net-${RUN}` })).rejects.toMatchObject({ status: 422, code: 'network_unavailable', field: 'network' });
    expect(await rig.db.select().from(plans).where(eq(plans.name, 'sandboxed'))).toEqual([]);

    // A plan row that says runsc anyway (saved while another engine answered): the start refuses, nothing runs.
    const bad = await run(await onPlan({ runtime: 'runsc' }), { command: ['sleep', '600'] });
    expect(bad).toMatchObject({ status: 'failed', containerId: null });
    expect(bad.reason).toMatch(/OCI runtime "runsc" is not available on Docker engine/);
    const gone = await run(await onPlan({ network: `no-such-net-${RUN}` }), { command: ['sleep', '600'] });
    expect(gone.status).toBe('failed');
    expect(gone.reason).toContain(`Network "no-such-net-${RUN}" (plan network) does not exist`);
  });
});
