import type { V1Pod, V1ContainerStatus } from '@kubernetes/client-node';
import type { ContainerSpec } from '../runtime/types';

/**
 * The pure half of the Kubernetes runtime: a job attempt's Pod from its ContainerSpec, and what a
 * Pod's status means to Warden. No client, no I/O, so it is table-tested alone
 * (test/k8s.pod.test.ts); server/k8s/runtime.ts does the calls.
 */

/** The job's own container in the Pod. */
export const MAIN = 'main';
/** The results keeper (only when the job has a resultsPath): see keeperContainer. */
export const KEEPER = 'results-keeper';
/** Annotation holding the container's labels exactly as Warden wrote them (labels must be label-safe; these need not be). */
export const LABELS_ANNOTATION = 'warden.labels';

/**
 * activeDeadlineSeconds = the longest the job may run (its timeout, or the plan's cap on
 * timeouts when higher: an extend may take it that far) + grace + this margin. It is a backstop
 * for when no Warden is up: Warden's own escalation normally ends the Pod long before. It is set
 * once, at creation, because the API only lets a live Pod's activeDeadlineSeconds be lowered,
 * never raised (PodSpec validation: "must be ... less than or equal to the existing value"), so a
 * backstop lowered to the current deadline could not follow a later extend.
 */
export const BACKSTOP_MARGIN_S = 60;
/** Pull failures (ErrImagePull seen this many times, kubelet backing off between) before the attempt fails, as on Docker. */
export const PULL_ATTEMPTS = 3;
/** A Pod still Terminating this long past its grace is force-deleted (grace 0). */
export const STUCK_MARGIN_S = 30;

const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A label value Kubernetes accepts: invalid characters become '-', ends trimmed to alphanumerics, ≤ 63. */
export function labelSafe(v: string): string {
  if (v.length <= 63 && LABEL_VALUE_RE.test(v)) return v;
  return v
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
}

/** Label keys written as Pod labels (selectable); every other key lives only in the annotation. */
const SELECTABLE = /^warden\.(managed|installation|job|attempt|user|node|claim)$/;

/** Pod labels for a container's labels: Warden's own keys with label-safe values. */
export function podLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (SELECTABLE.test(k)) out[k] = labelSafe(v);
  return out;
}

/** A label selector matching these labels (keys not selectable are matched by the caller on the annotation). */
export function labelSelector(filter: Record<string, string>): string {
  return Object.entries(podLabels(filter))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * The container's labels as Warden wrote them, from the annotation; the Pod's own labels win for
 * the keys they carry (they are what selectors and the apiserver see), so a Pod whose labels were
 * edited is judged by its labels.
 */
export function labelsOf(pod: V1Pod): Record<string, string> {
  let written: Record<string, string> = {};
  try {
    const a = pod.metadata?.annotations?.[LABELS_ANNOTATION];
    if (a) written = JSON.parse(a) as Record<string, string>;
  } catch {
    written = {};
  }
  const real = pod.metadata?.labels ?? {};
  const out: Record<string, string> = { ...written };
  for (const [k, v] of Object.entries(real)) {
    if (!SELECTABLE.test(k)) continue;
    // The annotation keeps the exact value when the label had to be made label-safe.
    if (written[k] === undefined || labelSafe(written[k]) !== v) out[k] = v;
  }
  // Keys the annotation says exist but the labels lost: not ours to trust.
  for (const k of Object.keys(written)) if (SELECTABLE.test(k) && real[k] === undefined) delete out[k];
  return out;
}

/** Does the pod match every filter label (exact values, as Warden wrote them)? */
export function matches(pod: V1Pod, filter: Record<string, string>): boolean {
  const l = labelsOf(pod);
  return Object.entries(filter).every(([k, v]) => l[k] === v);
}

/** "1.5" cpus → "1500m"; memory MB → "512Mi". */
const cpuQty = (cpus: number) => `${Math.max(1, Math.round(cpus * 1000))}m`;
const memQty = (mb: number) => `${Math.max(1, Math.round(mb))}Mi`;

const secure = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * The results keeper: a small container sharing an emptyDir with the job at its resultsPath.
 * A container that has exited cannot be exec'd and a deleted Pod takes its volumes along, so the
 * keeper (which ignores SIGTERM) is what Warden reads the results tar from (`tar c` through the
 * Pod exec API) after the job's container ended; Warden tells it to leave (a marker file) once
 * the results are read, or deletes the Pod. It uses WARDEN_K8S_KEEPER_IMAGE (any image with a
 * busybox-style sh, tar and sleep) so the job's image needs none of them.
 */
export function keeperContainer(image: string, resultsPath: string) {
  return {
    name: KEEPER,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sh', '-c', `trap '' TERM; while [ ! -e /tmp/.warden-read ]; do sleep 1; done`],
    volumeMounts: [{ name: 'results', mountPath: resultsPath }],
    resources: { limits: { cpu: '50m', memory: '16Mi' }, requests: { cpu: '10m', memory: '16Mi' } },
    securityContext: secure,
  };
}

export interface PodSettings {
  namespace: string;
  keeperImage: string;
}

/** The Pod of one job attempt. */
export function podFor(spec: ContainerSpec, s: PodSettings): V1Pod {
  if (!spec.name) throw new Error('a Pod needs a name (the job and attempt)');
  const grace = Math.max(0, spec.gracePeriodSeconds ?? 30);
  const longest = Math.max(spec.timeoutSeconds ?? 0, spec.maxTimeoutSeconds ?? 0);
  const resources: { limits: Record<string, string>; requests: Record<string, string> } = { limits: {}, requests: {} };
  if (spec.cpus) resources.limits.cpu = resources.requests.cpu = cpuQty(spec.cpus);
  if (spec.memoryMb) resources.limits.memory = resources.requests.memory = memQty(spec.memoryMb);
  const results = spec.resultsPath ? [{ name: 'results', mountPath: spec.resultsPath }] : [];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: spec.name,
      namespace: s.namespace,
      labels: podLabels(spec.labels),
      annotations: { [LABELS_ANNOTATION]: JSON.stringify(spec.labels) },
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // The Pod's pause process is PID 1, as Docker's init (Init: true) is for Warden's containers:
      // the job's process then dies of SIGTERM by default instead of ignoring it as a PID 1 would.
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: grace,
      ...(longest > 0 ? { activeDeadlineSeconds: longest + grace + BACKSTOP_MARGIN_S } : {}),
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: MAIN,
          image: spec.image,
          imagePullPolicy: 'IfNotPresent',
          // Docker's Cmd: the image's entrypoint stays, as on the Docker runtime.
          ...(spec.command && spec.command.length > 0 ? { args: spec.command } : {}),
          env: Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value })),
          resources,
          securityContext: secure,
          volumeMounts: results,
        },
        ...(spec.resultsPath ? [keeperContainer(s.keeperImage, spec.resultsPath)] : []),
      ],
      volumes: spec.resultsPath ? [{ name: 'results', emptyDir: {} }] : [],
    },
  };
}

export function mainStatus(pod: V1Pod): V1ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((c) => c.name === MAIN);
}

export function hasKeeper(pod: V1Pod): boolean {
  return (pod.spec?.containers ?? []).some((c) => c.name === KEEPER);
}

const PULL_WAITS = new Set(['ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull', 'InvalidImageName']);

/** The main container waits on an image pull that failed: the waiting reason and message, else null. */
export function pullFailure(pod: V1Pod): { reason: string; message: string } | null {
  const w = mainStatus(pod)?.state?.waiting;
  if (!w?.reason || !PULL_WAITS.has(w.reason)) return null;
  return { reason: w.reason, message: w.message ?? '' };
}

/** Pull failures that retrying cannot fix. */
export function pullIsFinal(reason: string): boolean {
  return reason === 'ErrImageNeverPull' || reason === 'InvalidImageName';
}

/** "Image "x" could not be pulled: …", ≤ 300 characters, no registry response body beyond the kubelet's one-line message. */
export function pullReason(image: string, f: { reason: string; message: string }): string {
  const msg = f.message.replace(/\s+/g, ' ').trim();
  const s = `Image "${image}" could not be pulled (${f.reason})${msg ? `: ${msg}` : ''}`;
  return s.length <= 300 ? s : `${s.slice(0, 297)}...`;
}

/** The main container's exit, when it has one. */
export function mainExit(pod: V1Pod): { exitCode: number; finishedAt: Date | null; reason: string | null } | null {
  const t = mainStatus(pod)?.state?.terminated;
  if (!t) return null;
  return { exitCode: t.exitCode, finishedAt: t.finishedAt ? new Date(t.finishedAt) : null, reason: t.reason ?? null };
}

/**
 * Why a Pod went away (or failed) behind Warden's back, in words: evicted (with the kubelet's
 * pressure in words), its node lost, or deleted. null when nothing says so.
 */
export function evictionReason(pod: V1Pod): string | null {
  const r = pod.status?.reason;
  const m = pod.status?.message ?? '';
  if (r === 'Evicted') {
    if (/memory/i.test(m)) return 'evicted: node memory pressure';
    if (/ephemeral-storage|nodefs|imagefs|disk/i.test(m)) return 'evicted: node disk pressure';
    if (/pid/i.test(m)) return 'evicted: node PID pressure';
    return `evicted: ${m || 'by the kubelet'}`.slice(0, 300);
  }
  if (r === 'NodeLost' || r === 'NodeAffinity' || r === 'Terminated' || r === 'Shutdown') return `Pod ${pod.metadata?.name} lost with its node (${r}${m ? `: ${m}` : ''})`.slice(0, 300);
  return null;
}

/** Docker-like state of a Pod's job container: created (pending/pulling) | running | exited. */
export function podState(pod: V1Pod): 'created' | 'running' | 'exited' {
  const st = mainStatus(pod)?.state;
  if (st?.terminated) return 'exited';
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return 'exited';
  if (st?.running) return 'running';
  return 'created';
}

/** A Kubernetes cpu quantity ("2", "1500m") as cpus; null when absent or unreadable. */
export function cpusOf(q: string | undefined): number | null {
  if (!q) return null;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(q.trim());
  if (!m) return null;
  return m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
}

const MEM_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** A Kubernetes memory quantity ("8010948Ki", "512Mi", "1G") in MB (MiB); null when unreadable. */
export function memoryMbOf(q: string | undefined): number | null {
  if (!q) return null;
  const m = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q.trim());
  if (!m) return null;
  return Math.floor((Number(m[1]) * MEM_UNITS[m[2] ?? '']!) / 1024 ** 2);
}
