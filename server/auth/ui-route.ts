import 'server-only';
import { getAppContext } from '../app';
import type { Ctx } from '../context';
import type { Role } from '../db/schema';
import { type Actor, hasRole } from '../domain/actor';
import { errorResponse, json } from '../http';
import { requestActor } from './session';
import { runtimeOverrides } from './runtime';

/**
 * JSON read endpoints for the dashboard's live views (app/api/ui/**). Session cookie, not API
 * keys: 401 without a session, 403 below `role`. Same error shape as the public API.
 */
export type UiHandler<P> = ((req: Request, route: { params: Promise<P> }) => Promise<Response>) & { meta: { role: Role } };

export function uiRoute<P = Record<string, never>>(
  role: Role,
  fn: (a: { req: Request; ctx: Ctx; actor: Actor; params: P; url: URL }) => Promise<Response | unknown>,
): UiHandler<P> {
  const handler = async (req: Request, route: { params: Promise<P> }) => {
    try {
      const ctx = await (runtimeOverrides().getCtx ?? getAppContext)();
      const actor = await requestActor(req, ctx);
      if (!actor) return json({ error: { code: 'unauthorized', message: 'Your session has ended. Log in again.' } }, 401);
      if (!hasRole(actor, role)) return json({ error: { code: 'forbidden', message: `This view needs the ${role} role` } }, 403);
      const params = ((await route?.params) ?? {}) as P;
      const out = await fn({ req, ctx, actor, params, url: new URL(req.url) });
      return out instanceof Response ? out : json(out);
    } catch (e) {
      return errorResponse(e);
    }
  };
  return Object.assign(handler, { meta: { role } });
}

/** URLSearchParams → plain object (last value wins). */
export function searchObject(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  url.searchParams.forEach((v, k) => {
    out[k] = v;
  });
  return out;
}
