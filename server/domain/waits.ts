/**
 * Why a job is not running yet, said once: a machine-readable code and the sentence the API and
 * dashboard show (`waitCode`, `waitReason`). Stored on the job by whoever knows the cause (the
 * dispatcher: engine down, an engine error while starting, quota, an image being pulled); cleared when the job is claimed or ends.
 * `user_limit` and `queued_behind` are never stored: they follow from the user's slots and the
 * job's place in its user's queue when the job is read (domain/queue.ts describeWait).
 */
export const WAIT_CODES = ['user_limit', 'quota', 'engine_down', 'engine_error', 'pulling_image', 'queued_behind', 'no_capacity', 'no_matching_node'] as const;
export type WaitCode = (typeof WAIT_CODES)[number];

export interface Wait {
  waitCode: WaitCode;
  waitReason: string;
}

const earlier = (n: number) => (n === 1 ? '1 earlier job of this user starts' : `${n} earlier jobs of this user start`);

export const waits = {
  engineDown: (): Wait => ({ waitCode: 'engine_down', waitReason: 'Waiting: Docker engine unreachable' }),
  quota: (quotaS: number, usedS: number): Wait => ({ waitCode: 'quota', waitReason: `Waiting: monthly quota of ${quotaS}s used (${usedS}s this month)` }),
  pullingImage: (image: string): Wait => ({ waitCode: 'pulling_image', waitReason: `Pulling image ${image}` }),
  engineError: (message: string, tries: number): Wait => ({ waitCode: 'engine_error', waitReason: `Waiting: the Docker engine failed to start it (${message.slice(0, 200)}); try ${tries}` }),
  /** The user's slots are taken (or go to its earlier jobs). Computed at read time (domain/queue.ts). */
  userLimit: (q: { active: number; limit: number; limitFrom: 'user' | 'plan'; planName: string; position: number }): Wait => ({
    waitCode: 'user_limit',
    waitReason:
      `Waiting: ${q.active} of ${q.limit} concurrent jobs running (${q.limitFrom === 'user' ? 'per-user limit' : `plan ${q.planName}`})` +
      (q.position > 1 ? `; ${earlier(q.position - 1)} first` : ''),
  }),
  /** A slot is free: it starts when the dispatcher, taking users in turn, reaches its user. */
  queuedBehind: (position: number): Wait => ({
    waitCode: 'queued_behind',
    waitReason:
      position > 1
        ? `Waiting for the dispatcher: ${earlier(position - 1)} first, users are served in turn`
        : 'Waiting for the dispatcher: next of this user to start, users are served in turn',
  }),
};

/** No wait: the columns' values when a job is claimed or ends. */
export const NO_WAIT = { waitCode: null, waitReason: null } as const;
