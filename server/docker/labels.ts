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
} as const;

/** Prefix reserved for Warden; users may not set labels under it. */
export const LABEL_PREFIX = 'warden.';

/**
 * Where a job's own labels go on its container: `traefik.enable` becomes
 * `warden.label.traefik.enable`, so no user label is ever read by a proxy or another tool that
 * acts on labels. The job row keeps them as given.
 */
export const USER_LABEL_PREFIX = 'warden.label.';

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

export function containerLabels(job: ContainerJob, node: string): Record<string, string> {
  const fenced: Record<string, string> = {};
  for (const [k, v] of Object.entries(job.labels ?? {})) fenced[`${USER_LABEL_PREFIX}${k}`] = v;
  return {
    ...fenced,
    [LABEL.managed]: 'true',
    [LABEL.job]: job.id,
    [LABEL.user]: job.userId,
    [LABEL.attempt]: String(job.attempt),
    [LABEL.node]: node,
  };
}

/** Who may touch a container: the node (Docker host) that runs it. */
export interface ContainerOwner {
  node: string;
}

/** Is this container one Warden manages and this owner may act on? */
export function isOurs(labels: Record<string, string>, owner: ContainerOwner): boolean {
  return labels[LABEL.managed] === 'true' && labels[LABEL.node] === owner.node;
}

/** Do the labels name exactly this job and attempt (re-check before destroying)? */
export function labelsMatchJob(labels: Record<string, string>, job: { id: string; attempt: number }): boolean {
  return labels[LABEL.job] === job.id && labels[LABEL.attempt] === String(job.attempt);
}

/** Labels a re-check compares against the listing: any change means the container is not the one we judged. */
export function sameIdentity(a: Record<string, string>, b: Record<string, string>): boolean {
  return a[LABEL.managed] === b[LABEL.managed] && a[LABEL.node] === b[LABEL.node] && a[LABEL.job] === b[LABEL.job] && a[LABEL.attempt] === b[LABEL.attempt];
}

/** "warden.job=… warden.attempt=…" for refusal messages. */
export function describeIdentity(labels: Record<string, string>): string {
  return `${LABEL.job}=${labels[LABEL.job] ?? '-'}, ${LABEL.attempt}=${labels[LABEL.attempt] ?? '-'}`;
}
