import { describe, expect, it } from 'vitest';
import type { Plan } from '../server/db/schema';
import { hostConfig, DROPPED_CAPABILITIES, FENCE_DEFAULTS, MANAGED_NETWORK, networkMode } from '../server/docker/host-config';
import { containerLabels } from '../server/docker/labels';
import { checkSubmitCaps, submitCaps } from '../server/domain/caps';
import { containerSpec } from '../server/domain/container-spec';
import { ConfigError, parseConfig } from '../server/config';
import { AppError } from '../server/domain/errors';
import { DEFAULT_PLANS } from '../server/domain/plans';
import { planFieldsSchema, submitJobSchema } from '../server/domain/schemas';

/** Pure parts of the container fence and the submit caps, table-tested (no engine, no database). */

const MiB = 1024 * 1024;
const base = { image: 'x', labels: {} };

describe('hostConfig(spec): the fence Docker gets', () => {
  it.each([
    ['a bare spec gets every default cap', {}, { NanoCpus: 1e9, Memory: 512 * MiB, MemorySwap: 512 * MiB, PidsLimit: 512, NetworkMode: MANAGED_NETWORK.name, LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } } }],
    ['null caps are defaults, never "no cap"', { cpus: null, memoryMb: null, pidsLimit: null, network: null, logMaxSize: null, logMaxFiles: null }, { NanoCpus: 1e9, Memory: 512 * MiB, PidsLimit: 512, NetworkMode: 'warden-jobs' }],
    ['zero or negative caps are defaults too', { cpus: 0, memoryMb: -5, pidsLimit: 0 }, { NanoCpus: 1e9, Memory: 512 * MiB, PidsLimit: 512 }],
    ['plan caps pass through', { cpus: 0.5, memoryMb: 64, pidsLimit: 64, network: 'none' }, { NanoCpus: 5e8, Memory: 64 * MiB, MemorySwap: 64 * MiB, PidsLimit: 64, NetworkMode: 'none' }],
    ['a named network is used as is', { network: 'team-net' }, { NetworkMode: 'team-net' }],
    ['log rotation from the settings', { logMaxSize: '100k', logMaxFiles: 2 }, { LogConfig: { Type: 'json-file', Config: { 'max-size': '100k', 'max-file': '2' } } }],
    ['a runtime is passed through', { runtime: 'runsc' }, { Runtime: 'runsc' }],
  ])('%s', (_name, spec, expected) => {
    expect(hostConfig({ ...base, ...spec })).toMatchObject(expected);
  });

  it('always: Init, no privileges, no-new-privileges, the dropped capabilities, no runtime unless asked', () => {
    const hc = hostConfig(base);
    expect(hc).toMatchObject({ Init: true, AutoRemove: false, Privileged: false, SecurityOpt: ['no-new-privileges:true'] });
    expect(hc.CapDrop).toEqual(expect.arrayContaining(['NET_RAW', 'MKNOD', 'SYS_CHROOT', 'AUDIT_WRITE', 'SETFCAP']));
    expect(hc.CapDrop).toEqual([...DROPPED_CAPABILITIES]);
    expect(hc).not.toHaveProperty('Runtime');
    expect(hc).not.toHaveProperty('CapAdd');
    expect(hc).not.toHaveProperty('Binds');
  });

  it.each([
    ['warden', 'warden-jobs'],
    [undefined, 'warden-jobs'],
    ['none', 'none'],
    ['bridge', 'bridge'],
    ['my-net', 'my-net'],
  ])('network %s → %s', (plan, mode) => expect(networkMode(plan)).toBe(mode));
});

describe('containerSpec(job, plan, settings)', () => {
  const job = { id: 'j1', userId: 'u1', attempt: 2, labels: { 'traefik.enable': 'true', team: 'data' }, image: 'alpine', command: ['sh'], env: { A: '1' }, timeoutS: 60, gracePeriodS: 5, resultsPath: '/out' };
  const plan = { cpus: 2, memoryMb: 256, pidsLimit: 100, network: 'none', runtime: 'runsc', maxTimeoutS: 120 };
  it('carries the plan caps, network, runtime and the log settings', () => {
    expect(containerSpec(job, plan, { owner: { node: 'n1', installation: 'i1' }, logMaxSize: '1m', logMaxFiles: 2 })).toEqual({
      name: 'warden-j1-2',
      image: 'alpine',
      command: ['sh'],
      env: { A: '1' },
      labels: {
        'warden.label.traefik.enable': 'true',
        'warden.label.team': 'data',
        'warden.managed': 'true',
        'warden.job': 'j1',
        'warden.user': 'u1',
        'warden.attempt': '2',
        'warden.node': 'n1',
        'warden.installation': 'i1',
      },
      cpus: 2,
      memoryMb: 256,
      pidsLimit: 100,
      network: 'none',
      runtime: 'runsc',
      logMaxSize: '1m',
      logMaxFiles: 2,
      // What the Kubernetes runtime needs for the Pod's backstop and the results keeper.
      timeoutSeconds: 60,
      maxTimeoutSeconds: 120,
      gracePeriodSeconds: 5,
      resultsPath: '/out',
    });
  });
  it.each([
    [{ 'traefik.enable': 'true', 'com.docker.compose.project': 'x' }],
    [{ 'traefik.http.routers.a.rule': 'Host(`evil`)' }],
    [{}],
  ])('user labels %j reach the container only under warden.label.*', (labels) => {
    const out = containerLabels({ id: 'j', userId: 'u', attempt: 1, labels }, { node: 'n', installation: 'i' });
    for (const k of Object.keys(out)) expect(k.startsWith('warden.')).toBe(true);
    for (const [k, v] of Object.entries(labels)) expect(out[`warden.label.${k}`]).toBe(v);
  });
});

describe('plan fields: caps always, null refused', () => {
  it.each([
    [{ cpus: null }, 'cpus', /cannot be null/],
    [{ memoryMb: null }, 'memoryMb', /cannot be null/],
    [{ pidsLimit: null }, 'pidsLimit', /cannot be null/],
    [{ pidsLimit: 4 }, 'pidsLimit', /at least 8/],
    [{ network: 'host' }, 'network', /host/],
    [{ network: 'container:abc' }, 'network', /network/],
    [{ network: '' }, 'network', /network/],
    [{ runtime: 'run sc' }, 'runtime', /runtime/],
    [{ maxEnvVars: 5000 }, 'maxEnvVars', /at most 1000/],
    [{ maxLabelBytes: null }, 'maxLabelBytes', /cannot be null/],
  ])('%j is refused (%s)', (input, field, msg) => {
    const r = planFieldsSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path.join('.')).toBe(field);
    expect(r.error!.issues[0]!.message).toMatch(msg);
  });
  it.each([[{ network: 'none' }], [{ network: 'warden' }], [{ network: 'team_net.1' }], [{ runtime: null }], [{ runtime: 'runsc' }], [{ pidsLimit: 8 }]])('%j is accepted', (input) => {
    expect(planFieldsSchema.safeParse(input).success).toBe(true);
  });
  it('the documented defaults', () => {
    expect(FENCE_DEFAULTS).toEqual({ cpus: 1, memoryMb: 512, pidsLimit: 512, network: 'warden', logMaxSize: '10m', logMaxFiles: 3 });
  });
});

describe('checkSubmitCaps: every knob capped by the plan, 422 naming the cap', () => {
  const plan = {
    ...DEFAULT_PLANS[0]!,
    id: 1,
    name: 'tight',
    gracePeriodS: 2,
    ttlSucceededS: 60,
    ttlFailedS: 600,
    ttlTimedOutS: 120,
    ttlKilledS: 120,
    ttlLostS: 120,
    maxEnvVars: 2,
    maxEnvBytes: 20,
    maxCommandArgs: 3,
    maxCommandBytes: 10,
    maxLabels: 2,
    maxLabelBytes: 12,
  } as Plan;
  const caps = submitCaps(plan);
  const check = (body: Record<string, unknown>) => checkSubmitCaps(submitJobSchema.parse({ image: 'alpine', ...body }), caps);
  const refused = (body: Record<string, unknown>): AppError => {
    try {
      check(body);
    } catch (e) {
      return e as AppError;
    }
    throw new Error(`accepted ${JSON.stringify(body)}`);
  };
  it('the largest TTL of the plan is the TTL cap', () => expect(caps.maxTtlS).toBe(600));
  it.each([
    [{ gracePeriodSeconds: 3600 }, 'gracePeriodSeconds', 'grace_exceeds_cap', 'gracePeriodSeconds 3600 exceeds the maximum of 2s allowed by plan tight'],
    [{ gracePeriodSeconds: 3 }, 'gracePeriodSeconds', 'grace_exceeds_cap', 'maximum of 2s'],
    [{ ttlSecondsAfterFinished: 31536000 }, 'ttlSecondsAfterFinished', 'ttl_exceeds_cap', 'ttlSecondsAfterFinished 31536000 exceeds the maximum of 600s allowed by plan tight'],
    [{ env: { A: '1', B: '2', C: '3' } }, 'env', 'env_exceeds_cap', 'env has 3 variables, above the maximum of 2 allowed by plan tight'],
    [{ env: { A: 'x'.repeat(19) } }, 'env', 'env_exceeds_cap', 'env has 21 bytes, above the maximum of 20'],
    [{ env: { A: 'é'.repeat(10) } }, 'env', 'env_exceeds_cap', 'env has 22 bytes'], // é is 2 bytes in UTF-8
    [{ command: ['a', 'b', 'c', 'd'] }, 'command', 'command_exceeds_cap', 'command has 4 arguments, above the maximum of 3'],
    [{ command: ['12345', '123456'] }, 'command', 'command_exceeds_cap', 'command has 11 bytes, above the maximum of 10'],
    [{ labels: { a: '1', b: '2', c: '3' } }, 'labels', 'labels_exceeds_cap', 'labels has 3 labels, above the maximum of 2'],
    [{ labels: { team: 'platforms' } }, 'labels', 'labels_exceeds_cap', 'labels has 13 bytes, above the maximum of 12'],
  ])('%j → 422 on %s (%s)', (body, field, code, message) => {
    const e = refused(body);
    expect(e).toBeInstanceOf(AppError);
    expect(e).toMatchObject({ status: 422, field, code });
    expect(e.message).toContain(message);
  });
  it('at or below every cap is accepted', () => {
    expect(() =>
      check({ gracePeriodSeconds: 2, ttlSecondsAfterFinished: 600, env: { A: '1', B: '2' }, command: ['ab', 'cd', 'ef'], labels: { a: '1', b: '2' } }),
    ).not.toThrow();
    expect(() => check({ gracePeriodSeconds: 0 })).not.toThrow();
    expect(() => check({ env: { A: 'é'.repeat(9) } })).not.toThrow(); // 1 + 1 + 18 = 20 bytes, at the cap
    expect(() => check({ labels: { team: 'platform' } })).not.toThrow(); // 4 + 8 = 12 bytes, at the cap
  });
});

describe('settings of the fence and the proxies', () => {
  it('defaults: 10m × 3 logs, no trusted proxy', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ WARDEN_CONTAINER_LOG_MAX_SIZE: '10m', WARDEN_CONTAINER_LOG_MAX_FILES: 3 });
    expect(c.WARDEN_TRUSTED_PROXIES.entries).toEqual([]);
    expect(c.WARDEN_TRUSTED_PROXIES.list.check('127.0.0.1', 'ipv4')).toBe(false);
  });
  it('parses CIDRs and single addresses, IPv4 and IPv6', () => {
    const c = parseConfig({ WARDEN_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7 ,fd00::/8', WARDEN_CONTAINER_LOG_MAX_SIZE: '512K', WARDEN_CONTAINER_LOG_MAX_FILES: '2' });
    expect(c.WARDEN_TRUSTED_PROXIES.entries).toEqual(['10.0.0.0/8', '192.0.2.7/32', 'fd00::/8']);
    expect(c.WARDEN_TRUSTED_PROXIES.list.check('10.200.1.1', 'ipv4')).toBe(true);
    expect(c.WARDEN_TRUSTED_PROXIES.list.check('192.0.2.8', 'ipv4')).toBe(false);
    expect(c.WARDEN_TRUSTED_PROXIES.list.check('fd12::1', 'ipv6')).toBe(true);
    expect(c).toMatchObject({ WARDEN_CONTAINER_LOG_MAX_SIZE: '512k', WARDEN_CONTAINER_LOG_MAX_FILES: 2 });
  });
  it.each([
    [{ WARDEN_TRUSTED_PROXIES: '10.0.0.0/33' }, 'WARDEN_TRUSTED_PROXIES'],
    [{ WARDEN_TRUSTED_PROXIES: 'proxy.example' }, 'WARDEN_TRUSTED_PROXIES'],
    [{ WARDEN_TRUSTED_PROXIES: '10.0.0.1/8/2' }, 'WARDEN_TRUSTED_PROXIES'],
    [{ WARDEN_CONTAINER_LOG_MAX_SIZE: '10' }, 'WARDEN_CONTAINER_LOG_MAX_SIZE'],
    [{ WARDEN_CONTAINER_LOG_MAX_SIZE: '-1m' }, 'WARDEN_CONTAINER_LOG_MAX_SIZE'],
    [{ WARDEN_CONTAINER_LOG_MAX_FILES: '0' }, 'WARDEN_CONTAINER_LOG_MAX_FILES'],
  ])('refuses %j naming %s', (env, name) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(name);
  });
});
