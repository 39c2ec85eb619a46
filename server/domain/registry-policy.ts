import dns from 'node:dns';
import { isIpLiteral, isReservedAddress } from './addresses';
import { invalid } from './errors';

/**
 * Which registries a job's image may come from. dockerd pulls as root on the host's network, so an
 * image reference is a URL the host fetches: `127.0.0.1:3999/probe:1` made it GET a loopback-only
 * service (and copy its HTML into the job's reason), `172.17.0.1:PORT/…` scans ports, whatever the
 * plan's network. So:
 *
 * - `WARDEN_REGISTRIES` set: a comma-separated allowlist of `host[:port]` entries, and nothing else
 *   is pulled from. `*.example.com` is any name under example.com (not example.com itself),
 *   `docker.io` is Docker Hub (images with no registry part), `*` is any registry. An entry without
 *   a port allows that host on any port; with one, only that port. Listed names are trusted as
 *   given (an operator who lists `127.0.0.1:5000` means it).
 * - Unset: Docker Hub and registries named by a public DNS name. Refused: IP literals (in any form
 *   the resolver accepts: 127.1, 2130706433, 0x7f000001), `localhost`, names ending in `.local`,
 *   `.internal` or `.localhost`, and names that resolve to a loopback, private, link-local or
 *   unique-local address (domain/addresses.ts). A name that does not resolve is let through: the
 *   pull then fails on its own, with a short reason.
 *
 * Checked at submit (a 422 naming the registry and the setting, nothing written) and again just
 * before each pull (the job fails with the same words): a name may resolve elsewhere by then.
 * dockerd resolves the name itself when it pulls, so a name that flips between this check and the
 * engine's own lookup (DNS rebinding) is only narrowed, not closed, by the second check; an
 * allowlist closes it.
 */

export const REGISTRIES_SETTING = 'WARDEN_REGISTRIES';
export const DOCKER_HUB = 'docker.io';
/** Names Docker Hub answers to in image references. */
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
/** Suffixes of names that are local by convention (RFC 6762 .local, RFC 6761 .localhost, .internal). */
const LOCAL_SUFFIXES = ['.local', '.internal', '.localhost'];
/** How long a submit waits for the registry's name to resolve before letting the pull decide. */
export const RESOLVE_TIMEOUT_MS = 2_000;

/** The registry part of an image reference. */
export interface RegistryRef {
  /** Lowercase host name or IP literal (IPv6 without brackets); `docker.io` for Docker Hub. */
  host: string;
  port: number | null;
  /** How messages name it: `host[:port]`, or `docker.io`. */
  name: string;
  hub: boolean;
}

/**
 * The registry an image is pulled from, by Docker's own rule: the part before the first `/` is a
 * registry when it contains `.` or `:` or is `localhost`; otherwise (and with no `/`) Docker Hub.
 */
export function imageRegistry(image: string): RegistryRef {
  const hub: RegistryRef = { host: DOCKER_HUB, port: null, name: DOCKER_HUB, hub: true };
  const slash = image.indexOf('/');
  if (slash < 0) return hub;
  const first = image.slice(0, slash);
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return hub;
  const { host, port } = splitHostPort(first.toLowerCase());
  if (HUB_NAMES.has(host) && port === null) return hub;
  return { host, port, name: first.toLowerCase(), hub: false };
}

function splitHostPort(s: string): { host: string; port: number | null } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : null };
  const i = s.lastIndexOf(':');
  if (i < 0) return { host: s, port: null };
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** One allowlist entry of WARDEN_REGISTRIES. */
export interface RegistryRule {
  /** `*`: any registry. */
  any: boolean;
  /** Host, or for a wildcard the suffix after `*` (`.example.com`). */
  host: string;
  wildcard: boolean;
  port: number | null;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const ENTRY_RE = new RegExp(`^(\\*\\.)?(${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]+\\])(?::(\\d{1,5}))?$`);

/** Parses WARDEN_REGISTRIES. Unset or empty: null (the default rule). Throws an Error naming the bad entry. */
export function parseRegistryRules(raw: string | undefined): RegistryRule[] | null {
  if (raw === undefined || raw.trim() === '') return null;
  const rules: RegistryRule[] = [];
  for (const entry of raw.split(',').map((x) => x.trim().toLowerCase())) {
    if (entry === '') continue;
    if (entry === '*') {
      rules.push({ any: true, host: '*', wildcard: false, port: null });
      continue;
    }
    const m = ENTRY_RE.exec(entry);
    const port = m?.[3] !== undefined ? Number(m[3]) : null;
    if (!m || (port !== null && (port < 1 || port > 65535))) {
      throw new Error(`expected host[:port] entries separated by commas, like registry.example.com, *.example.com, 10.0.0.5:5000, docker.io or * (got "${entry}")`);
    }
    const host = m[2]!.replace(/^\[(.*)\]$/, '$1');
    if (m[1]) rules.push({ any: false, host: `.${host}`, wildcard: true, port });
    else rules.push({ any: false, host: HUB_NAMES.has(host) && port === null ? DOCKER_HUB : host, wildcard: false, port });
  }
  return rules.length ? rules : null;
}

/** Pure: does this allowlist entry allow this registry? */
export function ruleAllows(rule: RegistryRule, ref: RegistryRef): boolean {
  if (rule.any) return true;
  if (rule.port !== null && rule.port !== ref.port) return false;
  if (rule.wildcard) return !ref.hub && ref.host.endsWith(rule.host) && ref.host.length > rule.host.length;
  return rule.host === ref.host;
}

/** Why the default rule (no allowlist) refuses this registry by its name alone, or null. */
export function localRegistryName(ref: RegistryRef): string | null {
  if (ref.hub) return null;
  if (isIpLiteral(ref.host)) return 'an IP address';
  if (ref.host === 'localhost' || LOCAL_SUFFIXES.some((s) => ref.host.endsWith(s))) return 'a local name';
  return null;
}

export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The host's addresses, or null when it does not resolve within RESOLVE_TIMEOUT_MS. */
async function resolveWithin(host: string, resolve: Resolver, timeoutMs: number): Promise<string[] | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      resolve(host),
      new Promise<null>((r) => {
        timer = setTimeout(() => r(null), timeoutMs);
      }),
    ]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

export interface RegistryPolicyOptions {
  /** WARDEN_REGISTRIES parsed (config().WARDEN_REGISTRIES); null = the default rule. */
  rules: RegistryRule[] | null;
  resolve?: Resolver;
  timeoutMs?: number;
}

/**
 * Why the image may not be pulled, in words a user knows (naming the registry and the setting), or
 * null when it may. Never throws.
 */
export async function registryRefusal(image: string, o: RegistryPolicyOptions): Promise<string | null> {
  const ref = imageRegistry(image);
  if (o.rules) {
    if (o.rules.some((r) => ruleAllows(r, ref))) return null;
    return `registry ${ref.name} is not in ${REGISTRIES_SETTING}, the registries this Warden pulls from`;
  }
  const local = localRegistryName(ref);
  if (local) return `registry ${ref.name} is ${local}; without ${REGISTRIES_SETTING} only Docker Hub and registries with a public DNS name are pulled from (list it in ${REGISTRIES_SETTING} to allow it)`;
  if (ref.hub) return null;
  const addrs = await resolveWithin(ref.host, o.resolve ?? systemResolver, o.timeoutMs ?? RESOLVE_TIMEOUT_MS);
  const bad = addrs?.find((a) => isReservedAddress(a));
  if (bad) return `registry ${ref.name} resolves to ${bad}, a loopback, private or link-local address; without ${REGISTRIES_SETTING} only registries on public addresses are pulled from (list it in ${REGISTRIES_SETTING} to allow it)`;
  return null;
}

/** The submit check: a 422 on `image` naming the registry and the setting. */
export async function checkImageRegistry(image: string, o: RegistryPolicyOptions): Promise<void> {
  const why = await registryRefusal(image, o);
  if (why) throw invalid(`image ${image} refused: ${why}`, 'image', 'registry_not_allowed');
}
