import crypto from 'node:crypto';
import fs from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Plan } from '../../server/db/schema';
import { createKubernetesRuntime } from '../../server/k8s/runtime';
import type { EventSubscription, Runtime } from '../../server/runtime/types';
import { onContainerEvent } from '../../server/worker/completion';
import { makeRig, TEST_IMAGE, waitFor, type Rig } from './sweepers';

/**
 * Kubernetes test rig: the sweeper rig (fresh database, fake clock, a node id of its own) over a
 * Kubernetes runtime in a namespace of its own on the real test cluster
 * (scripts/k8s-test-cluster.sh; KUBECONFIG=/tmp/k8s/kubeconfig/admin.conf), with the worker's
 * event handling wired as in server/worker/index.ts. The namespace is deleted at close.
 */

/**
 * True when the Kubernetes tests must run: a KUBECONFIG file is there, or REQUIRE_KUBERNETES=1
 * (CI: a missing cluster is then a failure, never a skip).
 */
export function kubernetesAvailable(): boolean {
  if (process.env.REQUIRE_KUBERNETES === '1') return true;
  const p = process.env.KUBECONFIG;
  return !!p && fs.existsSync(p);
}

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (!process.env.KUBECONFIG || !fs.existsSync(process.env.KUBECONFIG)) {
    throw new Error('REQUIRE_KUBERNETES=1 but KUBECONFIG does not name a kubeconfig file (bash scripts/k8s-test-cluster.sh up)');
  }
  kc.loadFromFile(process.env.KUBECONFIG);
  return kc;
}

export interface K8sRig extends Rig {
  namespace: string;
  /** The cluster as an admin sees it (for deleting behind Warden's back, reading Pods). */
  core: CoreV1Api;
  /** Stops the event watch (a worker going away); `watch()` starts one again. */
  unwatch(): void;
  watch(): void;
  /** The Pod of a container id, or null. */
  pod(id: string): ReturnType<CoreV1Api['readNamespacedPod']> | Promise<null>;
}

export async function makeK8sRig(o: { plan?: Partial<Plan>; runtime?: (r: Runtime) => Runtime } = {}): Promise<K8sRig> {
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = `warden-t-${crypto.randomBytes(3).toString('hex')}`;
  const real = createKubernetesRuntime({ namespace, keeperImage: TEST_IMAGE, kubeConfig: kc });
  const runtime = o.runtime ? o.runtime(real) : real;
  const rig = await makeRig({ docker: runtime, plan: o.plan });
  let sub: EventSubscription | null = null;
  const watch = () => {
    sub ??= runtime.events((e) => void onContainerEvent(rig.ctx, runtime, e).catch(() => {}));
  };
  watch();
  const close = rig.close.bind(rig);
  return Object.assign(rig, {
    namespace,
    core,
    unwatch() {
      sub?.close();
      sub = null;
    },
    watch,
    async pod(id: string) {
      try {
        return await core.readNamespacedPod({ name: id, namespace });
      } catch {
        return null;
      }
    },
    async close() {
      sub?.close();
      try {
        await close();
      } finally {
        await core.deleteNamespace({ name: namespace, gracePeriodSeconds: 0 }).catch(() => {});
      }
    },
  }) as K8sRig;
}

export { waitFor };
