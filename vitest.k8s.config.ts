import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config';

/** The Kubernetes suite: a real cluster (bash scripts/k8s-test-cluster.sh up; KUBECONFIG set). */
export default mergeConfig(base, defineConfig({ test: { include: ['test/k8s/**/*.test.ts'], exclude: ['**/node_modules/**'] } }));
