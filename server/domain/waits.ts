/**
 * Why a job is not running yet, said once: a machine-readable code and the sentence the API and
 * dashboard show (`waitCode`, `waitReason`). Stored on the job by whoever knows the cause (the
 * dispatcher: engine down, quota, an image being pulled); cleared when the job is claimed or ends.
 */
export const WAIT_CODES = ['user_limit', 'quota', 'engine_down', 'pulling_image', 'queued_behind'] as const;
export type WaitCode = (typeof WAIT_CODES)[number];

export interface Wait {
  waitCode: WaitCode;
  waitReason: string;
}

export const waits = {
  engineDown: (): Wait => ({ waitCode: 'engine_down', waitReason: 'Waiting: Docker engine unreachable' }),
  quota: (quotaS: number, usedS: number): Wait => ({ waitCode: 'quota', waitReason: `Waiting: monthly quota of ${quotaS}s used (${usedS}s this month)` }),
  pullingImage: (image: string): Wait => ({ waitCode: 'pulling_image', waitReason: `Pulling image ${image}` }),
};

/** No wait: the columns' values when a job is claimed or ends. */
export const NO_WAIT = { waitCode: null, waitReason: null } as const;
