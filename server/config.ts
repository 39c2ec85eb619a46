import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { FENCE_DEFAULTS } from './docker/host-config';
import { parseRegistryRules } from './domain/registry-policy';

/**
 * Every setting Warden reads, validated once at start-up for web, worker and CLI alike.
 * One name and one default per setting; the README's configuration table mirrors this.
 */
const flag = (def: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      const s = v.trim().toLowerCase();
      if (['1', 'on', 'true', 'yes'].includes(s)) return true;
      if (['0', 'off', 'false', 'no'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: `expected on/off (got "${v}")` });
      return z.NEVER;
    });

/** What a node id may look like (a Docker engine ID such as ABCD:EFGH:… fits). */
export const NODE_ID_RE = /^[A-Za-z0-9_.:-]{1,63}$/;

/** A whole number in a range (seconds, counts, ports). */
const seconds = (def: number, min: number, max: number, unit = 'seconds') =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number of ${unit} from ${min} to ${max} (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

/** Comma-separated IPs or CIDRs (IPv4 or IPv6) → a matcher; empty = trust no proxy. */
const cidrList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const list = new net.BlockList();
    const entries: string[] = [];
    for (const raw of (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
      const [addr, bits, extra] = raw.split('/');
      const type = net.isIPv4(addr ?? '') ? 'ipv4' : net.isIPv6(addr ?? '') ? 'ipv6' : null;
      const max = type === 'ipv4' ? 32 : 128;
      const prefix = bits === undefined ? max : Number(bits);
      if (!type || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
        ctx.addIssue({ code: 'custom', message: `expected IPs or CIDRs separated by commas (got "${raw}")` });
        return z.NEVER;
      }
      list.addSubnet(addr!, prefix, type);
      entries.push(`${addr}/${prefix}`);
    }
    return { list, entries };
  });

/** Unset/empty → undefined; else a number in [min, max] (decimals allowed when `decimals`). */
const optNumber = (min: number, max: number, what: string, decimals = false) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n < min || n > max || (!decimals && !Number.isInteger(n))) {
        ctx.addIssue({ code: 'custom', message: `expected ${decimals ? 'a number' : 'a whole number'} of ${what} from ${min} to ${max} (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

/** `k=v,k2=v2` → labels (keys and values as a class's nodeSelector takes them). */
const nodeLabels = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const out: Record<string, string> = {};
    for (const raw of (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
      const eq = raw.indexOf('=');
      const k = eq < 0 ? raw : raw.slice(0, eq).trim();
      const val = eq < 0 ? '' : raw.slice(eq + 1).trim();
      if (eq < 0 || !/^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/.test(k) || !/^[A-Za-z0-9_./-]{0,63}$/.test(val)) {
        ctx.addIssue({ code: 'custom', message: `expected key=value pairs separated by commas, like gpu=true,zone=a (got "${raw}")` });
        return z.NEVER;
      }
      out[k] = val;
    }
    return out;
  });

export const envSchema = z.object({
  PORT: seconds(3000, 1, 65535, 'port'),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : undefined))
    .refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), 'expected a postgres:// URL'),
  WARDEN_DATA_DIR: z.string().optional().transform((v) => path.resolve(v && v.trim() ? v : './.data')),
  DOCKER_HOST: z.string().optional().transform((v) => (v && v.trim() ? v.trim() : undefined)),
  /** What runs job containers: a Docker engine (DOCKER_HOST) or a Kubernetes namespace (KUBECONFIG or in-cluster). */
  WARDEN_RUNTIME: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim().toLowerCase() : 'docker'))
    .refine((v): v is 'docker' | 'kubernetes' => v === 'docker' || v === 'kubernetes', 'expected docker or kubernetes'),
  /** The one namespace Warden creates Pods in, lists, deletes and watches (WARDEN_RUNTIME=kubernetes); created if missing. */
  WARDEN_K8S_NAMESPACE: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : 'warden-jobs'))
    .refine((v) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v), 'expected a Kubernetes namespace name (lower-case letters, digits and -, at most 63)'),
  /** Image of the results keeper container beside a job with a resultsPath (Kubernetes): needs sh, tar, sleep, touch. */
  WARDEN_K8S_KEEPER_IMAGE: z.string().optional().transform((v) => (v && v.trim() ? v.trim() : 'busybox:latest')),
  WARDEN_WORKER: flag(true),
  // Unset: the node id is the Docker engine's own ID (server/docker/node-id.ts), so a worker
  // restarted or renamed on the same engine is the same node and finds its containers.
  WARDEN_NODE_ID: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : undefined))
    .refine((v) => v === undefined || NODE_ID_RE.test(v), 'expected 1-63 characters of letters, digits, _ . : -'),
  /** Jobs this node runs at once (starting, running, terminating); unset = unlimited. */
  WARDEN_NODE_MAX_JOBS: optNumber(1, 1_000_000, 'jobs'),
  /** CPUs jobs may reserve on this node (sum of their plans' cpus caps); unset = the engine's CPU count. */
  WARDEN_NODE_CPUS: optNumber(0.01, 100_000, 'CPUs', true),
  /** WARDEN_NODE_CPUS is multiplied by this (2 = twice as many CPUs reserved as there are). */
  WARDEN_NODE_CPU_OVERCOMMIT: optNumber(0.01, 1000, 'times', true).transform((v) => v ?? 1),
  /** Memory jobs may reserve on this node (sum of their plans' memory caps); unset = the engine's memory − 10%. */
  WARDEN_NODE_MEMORY_MB: optNumber(1, 1_000_000_000, 'MiB'),
  /** This node's labels, `gpu=true,zone=a`: a class's nodeSelector sends its jobs only to nodes carrying its labels. */
  WARDEN_NODE_LABELS: nodeLabels,
  /** Deadline of one image pull; a job whose pull passes it fails naming the image. */
  WARDEN_PULL_TIMEOUT_S: seconds(300, 1, 86400),
  /** The dispatcher's backstop tick; 0 = none (it still drains on every wake-up). */
  WARDEN_DISPATCH_TICK_S: seconds(1, 0, 60),
  /** Container starts (engine create + start) this worker runs at once. */
  WARDEN_START_CONCURRENCY: seconds(8, 1, 64, 'starts'),
  /** Database connections in a worker's pool (its LISTEN and its instance lock hold one more each). */
  WARDEN_WORKER_DB_POOL: seconds(8, 2, 100, 'connections'),
  WARDEN_TIMEOUT_SWEEP_S: seconds(1, 1, 3600),
  WARDEN_TTL_SWEEP_S: seconds(30, 1, 86400),
  WARDEN_ORPHAN_SWEEP_S: seconds(30, 1, 86400),
  WARDEN_ORPHAN_GRACE_S: seconds(300, 0, 7 * 86400),
  WARDEN_HISTORY_DAYS: seconds(30, 1, 3650),
  WARDEN_DRY_RUN: flag(false),
  /** Webhook URLs may point at loopback, link-local and private addresses (off: refused, so webhooks cannot probe the host's network). */
  WARDEN_WEBHOOK_ALLOW_PRIVATE: flag(false),
  /** Dashboard browsers on the live stream (GET /api/ui/events) per server process; more get 429 and poll. */
  WARDEN_LIVE_MAX_CLIENTS: seconds(500, 0, 100_000, 'clients'),
  /** `GET /api/v1/jobs/:id/logs?follow=true` streams open at once in this server process (each holds an engine socket); 4 per user besides. */
  WARDEN_MAX_LOG_FOLLOWS: seconds(200, 1, 100_000, 'streams'),
  /**
   * Registries images may be pulled from (domain/registry-policy.ts): host[:port] entries, `*.x.com`,
   * `docker.io`, `*`. Unset: Docker Hub and public names; IP literals, local names and names that
   * resolve to loopback/private/link-local addresses are refused.
   */
  WARDEN_REGISTRIES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseRegistryRules(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  WARDEN_CONTAINER_LOG_MAX_SIZE: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim().toLowerCase() : FENCE_DEFAULTS.logMaxSize))
    .refine((v) => /^[1-9][0-9]{0,5}[kmg]$/.test(v), 'expected a size like 10m, 512k or 1g'),
  WARDEN_CONTAINER_LOG_MAX_FILES: seconds(FENCE_DEFAULTS.logMaxFiles, 1, 100, 'files'),
  WARDEN_TRUSTED_PROXIES: cidrList,
  WARDEN_ADMIN_EMAIL: z.string().optional().transform((v) => (v && v.trim() ? v.trim().toLowerCase() : undefined)),
  WARDEN_ADMIN_PASSWORD: z.string().optional().transform((v) => (v ? v : undefined)),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional().default('info'),
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {}

/**
 * Start-up cannot go on, for a reason the operator fixes with one setting (named in `setting` and
 * in the message): the process prints the message and exits non-zero at once.
 */
export class StartupError extends Error {
  constructor(
    message: string,
    public readonly setting: string,
  ) {
    super(message);
  }
}

/** Parses an environment; throws a ConfigError listing every bad setting by name. */
export function parseConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid Warden settings:\n${lines.join('\n')}`);
  }
  if (r.data.WARDEN_ADMIN_PASSWORD !== undefined && r.data.WARDEN_ADMIN_PASSWORD.length < 8) {
    throw new ConfigError('Invalid Warden settings:\n  WARDEN_ADMIN_PASSWORD: must be at least 8 characters');
  }
  return r.data;
}

const g = globalThis as unknown as { __wardenConfig?: Config };

/** The process-wide settings, parsed from process.env on first use. */
export function config(): Config {
  if (!g.__wardenConfig) g.__wardenConfig = parseConfig(process.env);
  return g.__wardenConfig;
}
