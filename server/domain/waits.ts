/**
 * Why a job is not running yet, said once: a machine-readable code and the sentence the API and
 * dashboard show (`waitCode`, `waitReason`). Stored on the job by whoever knows the cause (the
 * dispatcher: engine down, an engine error while starting, quota, an image being pulled); cleared when the job is claimed or ends.
 */
export const WAIT_CODES = ['user_limit', 'quota', 'engine_down', 'engine_error', 'pulling_image', 'queued_behind'] as const;
export type WaitCode = (typeof WAIT_CODES)[number];

export interface Wait {
  waitCode: WaitCode;
  waitReason: string;
}

export const waits = {
  engineDown: (): Wait => ({ waitCode: 'engine_down', waitReason: 'Waiting: Docker engine unreachable' }),
  quota: (quotaS: number, usedS: number): Wait => ({ waitCode: 'quota', waitReason: `Waiting: monthly quota of ${quotaS}s used (${usedS}s this month)` }),
  pullingImage: (image: string): Wait => ({ waitCode: 'pulling_image', waitReason: `Pulling image ${image}` }),
  engineError: (message: string, tries: number): Wait => ({ waitCode: 'engine_error', waitReason: `Waiting: the Docker engine failed to start it (${message.slice(0, 200)}); try ${tries}` }),
};

/** No wait: the columns' values when a job is claimed or ends. */
export const NO_WAIT = { waitCode: null, waitReason: null } as const;
