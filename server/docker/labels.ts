/**
 * Warden's container labels, said once (as Ryuk keeps its label names in consts.go): the keys,
 * the labels a job's container gets, and the one check of whether a container is ours to touch.
 * Containers are only ever listed by these labels, so nothing without them is ever seen.
 */
export const LABEL = {
  managed: 'warden.managed',
  job: 'warden.job',
  user: 'warden.user',
  attempt: 'warden.attempt',
  node: 'warden.node',
  /** The Warden installation (one database) that made the container: another's is foreign. */
  installation: 'warden.installation',
  /** The claim that made the container (jobs.claim_id): one made for a lost claim is never recorded. */
  claim: 'warden.claim',
} as const;

/**
 * Where a job's own labels go on its container: `traefik.enable` becomes
 * `warden.label.traefik.enable`, so no user label is ever read by a proxy or another tool that
 * acts on labels. The job row keeps them as given.
 */
export const USER_LABEL_PREFIX = 'warden.label.';

/**
 * Label prefixes a job's container may carry only as Warden writes them: its own (`warden.`) and
 * those other tools act on — a proxy routing traffic (traefik, caddy-docker-proxy), Compose and
 * Swarm, the kubelet, a scheduler that runs commands in labelled containers (ofelia), an updater
 * (watchtower). User labels are moved under `warden.label.`; an image whose own labels (which the
 * engine copies onto every container made from it) start with one of these is refused before a
 * container is created (docker/runtime.ts). docs/SECURITY.md lists them; this is the one list.
 */
export const RESERVED_LABEL_PREFIXES = ['warden.', 'traefik.', 'com.docker.', 'io.kubernetes.', 'caddy', 'ofelia.', 'com.centurylinklabs.watchtower.'] as const;

/** The first label key under a reserved prefix (sorted, so the answer is stable), or null. */
export function reservedLabel(labels: Record<string, string> | null | undefined): string | null {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.find((k) => RESERVED_LABEL_PREFIXES.some((p) => k.toLowerCase().startsWith(p))) ?? null;
}

/** Label filter for every container Warden manages. */
export const MANAGED = { [LABEL.managed]: 'true' } as const;

/** What Warden knows of a job when it names and labels its container. */
export interface ContainerJob {
  id: string;
  userId: string;
  attempt: number;
  labels: Record<string, string>;
}

/** One name per (job, attempt): a second create of the same attempt fails with 409 instead of running twice. */
export function containerName(job: Pick<ContainerJob, 'id' | 'attempt'>): string {
  return `warden-${job.id}-${job.attempt}`;
}

export function containerLabels(job: ContainerJob & { claimId?: string | null }, owner: ContainerOwner): Record<string, string> {
  const fenced: Record<string, string> = {};
  for (const [k, v] of Object.entries(job.labels ?? {})) fenced[`${USER_LABEL_PREFIX}${k}`] = v;
  return {
    ...fenced,
    [LABEL.managed]: 'true',
    [LABEL.job]: job.id,
    [LABEL.user]: job.userId,
    [LABEL.attempt]: String(job.attempt),
    [LABEL.node]: owner.node,
    [LABEL.installation]: owner.installation,
    ...(job.claimId ? { [LABEL.claim]: job.claimId } : {}),
  };
}

/** Who may touch a container: this installation's worker for the node (Docker engine) that runs it. */
export interface ContainerOwner {
  node: string;
  installation: string;
}

/**
 * Whose container is this, as far as the labels say:
 * - `ours`: managed and made by this installation;
 * - `legacy`: managed but with no installation label (made before Warden wrote one): ours only
 *   where our database records that very container id for the job its labels name, so callers
 *   holding a job row may act on it and the orphan sweeper (which works from listings) never does;
 * - `foreign`: another installation's (a staging install, a test suite on the same engine);
 * - `unmanaged`: not Warden's at all.
 * Foreign and unmanaged containers are never touched.
 */
export type Ownership = 'ours' | 'legacy' | 'foreign' | 'unmanaged';

export function ownership(labels: Record<string, string>, installation: string): Ownership {
  if (labels[LABEL.managed] !== 'true') return 'unmanaged';
  const inst = labels[LABEL.installation];
  if (inst === undefined || inst === '') return 'legacy';
  return inst === installation ? 'ours' : 'foreign';
}

/**
 * Is this container one this owner may act on, judged from labels alone: managed, this
 * installation, this node. (A container whose job row names it is also ours when its labels are
 * `legacy`, or name a node this one took over: see mayActOn.)
 */
export function isOurs(labels: Record<string, string>, owner: ContainerOwner): boolean {
  return ownership(labels, owner.installation) === 'ours' && labels[LABEL.node] === owner.node;
}

/**
 * May a worker act on the container its job row records (completion, escalation, TTL)? The row
 * proves the job chose it; the labels must still not be another installation's (or unmanaged).
 * The node label is not required to match: a node that adopted a stale node's containers on the
 * same engine keeps their old label.
 */
export function mayActOn(labels: Record<string, string>, installation: string): boolean {
  const o = ownership(labels, installation);
  return o === 'ours' || o === 'legacy';
}

/** Do the labels name exactly this job and attempt (re-check before destroying)? */
export function labelsMatchJob(labels: Record<string, string>, job: { id: string; attempt: number }): boolean {
  return labels[LABEL.job] === job.id && labels[LABEL.attempt] === String(job.attempt);
}

/** Labels a re-check compares against the listing: any change means the container is not the one we judged. */
export function sameIdentity(a: Record<string, string>, b: Record<string, string>): boolean {
  return (
    a[LABEL.managed] === b[LABEL.managed] &&
    a[LABEL.installation] === b[LABEL.installation] &&
    a[LABEL.node] === b[LABEL.node] &&
    a[LABEL.job] === b[LABEL.job] &&
    a[LABEL.attempt] === b[LABEL.attempt]
  );
}

/** "warden.job=… warden.attempt=…" for refusal messages. */
export function describeIdentity(labels: Record<string, string>): string {
  return `${LABEL.job}=${labels[LABEL.job] ?? '-'}, ${LABEL.attempt}=${labels[LABEL.attempt] ?? '-'}`;
}
