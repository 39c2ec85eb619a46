import { inject } from 'vitest';

export const TEST_IMAGE = 'warden-test/busybox:latest';

/** True when Docker tests must run. CI sets REQUIRE_DOCKER=1, so they never skip there. */
export function dockerAvailable(): boolean {
  return inject('dockerOk') || process.env.REQUIRE_DOCKER === '1';
}
