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
 * The test cluster's kubeconfig. The Kubernetes suite (`npm run test:k8s`, test/k8s) never skips:
 * without a cluster every test fails with this message (CI sets REQUIRE_KUBERNETES=1 and brings
 * the cluster up first; `npm test` does not include the suite).
 */
export function kubeConfig(): KubeConfig {
  const p = process.env.KUBECONFIG;
  if (!p || !fs.existsSync(p)) {
    throw new Error('the Kubernetes suite needs the test cluster: bash scripts/k8s-test-cluster.sh up, then KUBECONFIG=/tmp/k8s/kubeconfig/admin.conf npm run test:k8s');
  }
  const kc = new KubeConfig();
  kc.loadFromFile(p);
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

/**
 * `namespace` and `runtimeKubeConfig` run the runtime in a namespace made beforehand with an
 * identity of its own (test/k8s/rbac.test.ts: a ServiceAccount with only deploy/kubernetes/rbac.yaml's
 * Role); `core` stays the admin's either way.
 */
export async function makeK8sRig(
  o: { plan?: Partial<Plan>; runtime?: (r: Runtime) => Runtime; namespace?: string; runtimeKubeConfig?: KubeConfig } = {},
): Promise<K8sRig> {
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = o.namespace ?? `warden-t-${crypto.randomBytes(3).toString('hex')}`;
  const real = createKubernetesRuntime({ namespace, keeperImage: TEST_IMAGE, kubeConfig: o.runtimeKubeConfig ?? kc });
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
