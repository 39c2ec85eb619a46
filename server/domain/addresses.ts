import ipaddr from 'ipaddr.js';

/**
 * "Is this address one Warden must not make anyone reach?" — said once, for webhooks
 * (domain/webhook-url.ts) and image registries (domain/registry-policy.ts).
 *
 * Public unicast only: loopback, link-local (the cloud metadata endpoint 169.254.169.254), RFC 1918
 * private, unique-local, carrier-grade NAT, multicast, reserved and documentation ranges are
 * reserved, as ipaddr.js classifies them. IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as its IPv4.
 * IPv4-compatible IPv6 (::/96, e.g. ::7f00:1) is deprecated (RFC 4291 §2.5.5.1) and ipaddr.js calls
 * it unicast, but a stack that still maps it would reach the embedded IPv4 — loopback for ::7f00:1 —
 * so the whole block is reserved.
 */

/** Is `ip` an IP address literal ipaddr.js accepts (dotted, hex, octal, short IPv4 forms; IPv6)? */
export function isIpLiteral(s: string): boolean {
  return ipaddr.isValid(s);
}

/** Is this IP address reserved (anything but a public unicast address)? Not an IP at all: reserved. */
export function isReservedAddress(ip: string): boolean {
  if (!ipaddr.isValid(ip)) return true;
  // ipaddr.js reads "::8.8.8.8" as ::ffff:8.8.8.8 (mapped); the WHATWG parser writes it canonically (::808:808).
  if (ip.includes(':') && ip.includes('.')) {
    try {
      ip = new URL(`http://[${ip}]`).hostname.slice(1, -1);
    } catch {
      return true;
    }
  }
  const parsed = ipaddr.parse(ip);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0)) return true;
  return ipaddr.process(ip).range() !== 'unicast';
}

/** Is this IP address a public unicast address? */
export function isPublicAddress(ip: string): boolean {
  return !isReservedAddress(ip);
}
