import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { '@': import.meta.dirname } },
  test: {
    globalSetup: ['./test/setup/global.ts'],
    setupFiles: ['./test/setup/per-file.ts'],
    include: ['test/**/*.test.ts'],
    // The real-cluster suite runs with `npm run test:k8s` (vitest.k8s.config.ts), not here.
    exclude: ['test/k8s/**', '**/node_modules/**'],
    // Generous: tests wait on conditions, and on a 2-core box kept busy (scripts/cpu-hog.mjs) a
    // real worker process takes tens of seconds to start. A timeout is the bound on a hang, not a
    // speed check.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    // expect.poll waits on its condition up to 30 s unless a test says otherwise (vitest's default
    // is 1 s: a login's server action on a loaded box took longer, and a whole e2e file failed).
    expect: { poll: { timeout: 30_000 } },
    pool: 'forks',
    // Docker and browser tests share one engine; two workers keep a 2-core CI box responsive.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
