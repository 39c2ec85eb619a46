/**
 * The fence every job container is started in, as a pure function of its spec: what Docker's
 * HostConfig says about cpu, memory, pids, logs, privileges, capabilities, network and runtime.
 * runtime.ts passes the result to createContainer unchanged; test/fence.unit.test.ts tables it
 * and test/fence.docker.test.ts checks the real result with `docker inspect`.
 * (A structural subset of dockerode's HostConfig, so this file needs no dockerode import.)
 */
import type { ContainerSpec } from './types';

/**
 * What a spec (or a plan) that says nothing gets. Documented in the README ("Containers are
 * fenced") and docs/SECURITY.md; the plan columns default to the same numbers.
 */
export const FENCE_DEFAULTS = {
  cpus: 1,
  memoryMb: 512,
  /** Enough for a build with a few hundred threads; a fork bomb stops here (measured in fence.docker.test.ts). */
  pidsLimit: 512,
  network: 'warden',
  logMaxSize: '10m',
  logMaxFiles: 3,
} as const;

/** The Docker network behind plan network "warden": a bridge with inter-container traffic off. */
export const MANAGED_NETWORK = {
  /** Plan value that selects it. */
  planValue: 'warden',
  name: 'warden-jobs',
  options: {
    // Containers on it cannot reach each other (iptables DROP between bridge ports); they still
    // reach the outside world through NAT.
    'com.docker.network.bridge.enable_icc': 'false',
  },
} as const;

/** Plan network values that are not names of existing networks. */
export const NO_NETWORK = 'none';
/** Network modes a plan may never name: each one gives the container the host's or another container's network. */
export function forbiddenNetwork(name: string): string | null {
  if (name === 'host') return 'network "host" shares the host\'s network stack (its loopback services included)';
  if (/^container:/.test(name)) return 'network "container:…" joins another container\'s network namespace';
  return null;
}

/**
 * Capabilities dropped from Docker's default set, each with the reason (also in the README and
 * docs/SECURITY.md). What remains (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID,
 * NET_BIND_SERVICE) is what ordinary images need to install packages and drop to a user.
 */
export const DROPPED_CAPABILITIES = [
  /** Raw and packet sockets: ARP/DNS spoofing of other containers on the bridge, crafted packets. */
  'NET_RAW',
  /** Creating device nodes: a way to a block device the cgroup's device list might not cover. */
  'MKNOD',
  /** chroot(2): a step in several container breakouts; jobs have no need to change root. */
  'SYS_CHROOT',
  /** Writing to the kernel audit log: a job could forge or flood the host's audit trail. */
  'AUDIT_WRITE',
  /** Setting file capabilities: a job could mint binaries that gain capabilities when run. */
  'SETFCAP',
  /** Changing capability sets of itself and others: not needed once the set is fixed. */
  'SETPCAP',
] as const;

export interface FenceHostConfig {
  Init: boolean;
  AutoRemove: boolean;
  Privileged: boolean;
  NanoCpus: number;
  Memory: number;
  MemorySwap: number;
  PidsLimit: number;
  CapDrop: string[];
  SecurityOpt: string[];
  LogConfig: { Type: string; Config: Record<string, string> };
  NetworkMode: string;
  Runtime?: string;
}

const positive = (v: number | null | undefined, def: number): number => (v != null && Number.isFinite(v) && v > 0 ? v : def);

/** The Docker network name a plan's network value means ('warden' → the managed bridge). */
export function networkMode(network: string | null | undefined): string {
  const n = network?.trim() || FENCE_DEFAULTS.network;
  return n === MANAGED_NETWORK.planValue ? MANAGED_NETWORK.name : n;
}

export function hostConfig(spec: ContainerSpec): FenceHostConfig {
  const memory = Math.round(positive(spec.memoryMb, FENCE_DEFAULTS.memoryMb) * 1024 * 1024);
  const hc: FenceHostConfig = {
    // tini as PID 1: forwards SIGTERM to the job and reaps zombies, so `sh -c` jobs stop on
    // SIGTERM instead of ignoring it until SIGKILL.
    Init: true,
    // Finished containers stay until the TTL sweeper saves logs and removes them.
    AutoRemove: false,
    Privileged: false,
    NanoCpus: Math.round(positive(spec.cpus, FENCE_DEFAULTS.cpus) * 1e9),
    Memory: memory,
    // Without this Docker allows the same amount again as swap, so the cap would be 2x.
    MemorySwap: memory,
    PidsLimit: Math.round(positive(spec.pidsLimit, FENCE_DEFAULTS.pidsLimit)),
    CapDrop: [...DROPPED_CAPABILITIES],
    // setuid binaries and file capabilities cannot raise privileges inside the container.
    SecurityOpt: ['no-new-privileges:true'],
    // json-file explicitly (not the engine's default driver): it is the driver whose rotation we
    // can promise, and `docker logs` (the live tail) reads it.
    LogConfig: {
      Type: 'json-file',
      Config: {
        'max-size': spec.logMaxSize?.trim() || FENCE_DEFAULTS.logMaxSize,
        'max-file': String(Math.round(positive(spec.logMaxFiles, FENCE_DEFAULTS.logMaxFiles))),
      },
    },
    NetworkMode: networkMode(spec.network),
  };
  if (spec.runtime) hc.Runtime = spec.runtime;
  return hc;
}
