import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { isPublicAddress } from './addresses';
import { invalid } from './errors';

/**
 * Where a webhook may point. http and https only; by default only public unicast addresses, so a
 * webhook cannot be used to probe the host's own network (loopback, link-local — the cloud
 * metadata endpoint 169.254.169.254 —, RFC 1918 private, unique-local, carrier-grade NAT,
 * multicast, reserved and documentation ranges), unless WARDEN_WEBHOOK_ALLOW_PRIVATE=on.
 *
 * Checked twice: when the subscription is created (every address the host name resolves to), and
 * at every delivery through `guardedLookup`, the resolver the HTTP request itself connects with,
 * so a name that later resolves elsewhere (DNS rebinding) is refused at the moment of use, with
 * no gap between the check and the connection.
 */

export const WEBHOOK_URL_MAX = 2048;

/** Is this IP address a public unicast address? One rule for webhooks and registries (./addresses). */
export { isPublicAddress };

/** The host of a URL as an IP literal (brackets of IPv6 removed), or null for a host name. */
function ipLiteral(u: URL): string | null {
  const h = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return ipaddr.isValid(h) && (h.includes(':') || ipaddr.IPv4.isValidFourPartDecimal(h)) ? h : null;
}

/** Pure: scheme, shape and (for IP literals) address checks. Returns the parsed URL or throws a 422. */
export function parseWebhookUrl(raw: string, allowPrivate: boolean): URL {
  if (raw.length > WEBHOOK_URL_MAX) throw invalid(`url must be at most ${WEBHOOK_URL_MAX} characters`, 'url');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalid('url must be an absolute http:// or https:// URL', 'url');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw invalid(`url must use http or https (got ${u.protocol.replace(/:$/, '')})`, 'url', 'bad_scheme');
  }
  if (u.username || u.password) throw invalid('url must not contain a user name or password; put a token in the path or query instead', 'url');
  if (!u.hostname) throw invalid('url must name a host', 'url');
  const ip = ipLiteral(u);
  if (ip && !allowPrivate && !isPublicAddress(ip)) throw notAllowed(ip);
  return u;
}

function notAllowed(ip: string, host?: string) {
  return invalid(
    `url points at ${host ? `${host} (${ip})` : ip}, a loopback, link-local, private or reserved address; webhooks may only reach public addresses (set WARDEN_WEBHOOK_ALLOW_PRIVATE=on to allow it)`,
    'url',
    'url_not_allowed',
  );
}

export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The creation check: parseWebhookUrl, then (unless private addresses are allowed) every address
 * the host name resolves to must be public. A name that does not resolve is refused: it cannot
 * be checked. Returns the URL as normalised by the WHATWG parser.
 */
export async function checkWebhookUrl(raw: string, o: { allowPrivate: boolean; resolve?: Resolver }): Promise<string> {
  const u = parseWebhookUrl(raw, o.allowPrivate);
  if (!o.allowPrivate && !ipLiteral(u)) {
    let addrs: string[];
    try {
      addrs = await (o.resolve ?? systemResolver)(u.hostname);
    } catch {
      throw invalid(`url host ${u.hostname} does not resolve`, 'url', 'url_unresolvable');
    }
    if (addrs.length === 0) throw invalid(`url host ${u.hostname} does not resolve`, 'url', 'url_unresolvable');
    const bad = addrs.find((a) => !isPublicAddress(a));
    if (bad) throw notAllowed(bad, u.hostname);
  }
  return u.toString();
}

/** The error a delivery fails with when its host resolves to an address it may not reach. */
export class BlockedAddressError extends Error {
  readonly code = 'EWEBHOOKBLOCKED';
}

/**
 * A `lookup` for http.request that resolves the name and refuses the connection when any
 * address is not public (unless allowed): the check and the connection use the same answer.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const list = addresses as dns.LookupAddress[];
      const bad = allowPrivate ? undefined : list.find((a) => !isPublicAddress(a.address));
      if (bad || list.length === 0) {
        const e = new BlockedAddressError(bad ? `${hostname} resolves to ${bad.address}, which webhooks may not reach` : `${hostname} does not resolve`);
        return callback(e as NodeJS.ErrnoException, '', 4);
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** At delivery: an IP-literal URL is never passed to `lookup`, so it is checked here. */
export function literalAddressAllowed(url: URL, allowPrivate: boolean): string | null {
  const ip = ipLiteral(url);
  if (!ip || allowPrivate || isPublicAddress(ip)) return null;
  return `${ip} is a loopback, link-local, private or reserved address, which webhooks may not reach`;
}
