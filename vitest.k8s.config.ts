import { defineConfig } from 'vitest/config';
import base from './vitest.config';

/**
 * The Kubernetes suite: a real cluster (bash scripts/k8s-test-cluster.sh up; KUBECONFIG set).
 * Spread, not mergeConfig: mergeConfig concatenates arrays, which would keep the base config's
 * include (the whole Docker suite) and its exclude of test/k8s.
 */
export default defineConfig({
  ...base,
  // One file at a time: the files share one single-node cluster, and the e2e file builds and runs
  // a whole Warden; side by side on 2 cores they slowed each other's Pods past the tests' waits.
  test: { ...base.test, include: ['test/k8s/**/*.test.ts'], exclude: ['**/node_modules/**'], fileParallelism: false },
});
