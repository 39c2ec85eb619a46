import type { Config } from '../config';
import { createDockerRuntime } from '../docker/runtime';
import type { Runtime } from './types';

/**
 * The worker's runtime, as createRuntime (./index.ts) chooses it, with the Kubernetes runtime
 * (and @kubernetes/client-node, ~70 MB of resident memory) imported only when WARDEN_RUNTIME says
 * kubernetes: a Docker worker never loads it.
 */
export async function loadRuntime(cfg: Pick<Config, 'WARDEN_RUNTIME' | 'DOCKER_HOST' | 'WARDEN_K8S_NAMESPACE' | 'WARDEN_K8S_KEEPER_IMAGE'>): Promise<Runtime> {
  if (cfg.WARDEN_RUNTIME === 'kubernetes') {
    const { createKubernetesRuntime } = await import('../k8s/runtime');
    return createKubernetesRuntime({ namespace: cfg.WARDEN_K8S_NAMESPACE, keeperImage: cfg.WARDEN_K8S_KEEPER_IMAGE });
  }
  return createDockerRuntime({ dockerHost: cfg.DOCKER_HOST });
}
