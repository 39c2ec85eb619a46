import { RUNTIME_OVERRIDES_KEY, type DashboardRuntime } from '../../server/auth/runtime';

/** Replaces some of the dashboard's seams for this process (pass {} to restore the defaults). */
export function setDashboardRuntimeForTests(o: Partial<DashboardRuntime>): void {
  (globalThis as Record<string, unknown>)[RUNTIME_OVERRIDES_KEY] = o;
}
