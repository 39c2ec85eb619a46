import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { '@': import.meta.dirname } },
  test: {
    globalSetup: ['./test/setup/global.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Docker and browser tests share one engine; two workers keep a 2-core CI box responsive.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
