import type { Config } from '../config';
import { createDockerRuntime } from '../docker/runtime';
import { createKubernetesRuntime } from '../k8s/runtime';
import type { Runtime } from './types';

/**
 * The runtime this process talks to, from WARDEN_RUNTIME (validated in server/config.ts):
 * `docker` (default) → the engine at DOCKER_HOST; `kubernetes` → Pods in WARDEN_K8S_NAMESPACE of
 * the cluster KUBECONFIG names (or the in-cluster service account). Nothing else chooses.
 */
export function createRuntime(cfg: Pick<Config, 'WARDEN_RUNTIME' | 'DOCKER_HOST' | 'WARDEN_K8S_NAMESPACE' | 'WARDEN_K8S_KEEPER_IMAGE'>): Runtime {
  if (cfg.WARDEN_RUNTIME === 'kubernetes') return createKubernetesRuntime({ namespace: cfg.WARDEN_K8S_NAMESPACE, keeperImage: cfg.WARDEN_K8S_KEEPER_IMAGE });
  return createDockerRuntime({ dockerHost: cfg.DOCKER_HOST });
}
