import type { Ctx } from '../context';
import type { Actor } from '../domain/actor';

/**
 * The seams the dashboard's server actions and UI routes resolve through: the app context and
 * the current session's actor. Production uses the defaults (shared pool, session cookie);
 * tests inject their own so every action can be called without a running Next.js server.
 */
export interface DashboardRuntime {
  getCtx: () => Promise<Ctx>;
  /** The signed-in operator of the current request (server actions: from `cookies()`), or null. */
  resolveActor: () => Promise<Actor | null>;
  /** The signed-in operator of a route-handler request (from its Cookie header), or null. */
  resolveRequestActor: (req: Request, ctx: Ctx) => Promise<Actor | null>;
}

/** Where tests put their seams (test/helpers/dashboard-runtime.ts); unset in production. */
export const RUNTIME_OVERRIDES_KEY = '__wardenDashRuntime';

export function runtimeOverrides(): Partial<DashboardRuntime> {
  return (globalThis as Record<string, unknown>)[RUNTIME_OVERRIDES_KEY] ?? {};
}
