import { getAppContext } from '../app';
import type { Actor } from '../domain/actor';
import { authenticateBearer } from '../domain/auth';
import { healthReport } from '../health';
import { requestActor } from './session';

/**
 * GET /api/health for this request: the full report for a signed-in operator or an operator
 * key, else only `{status}`. The details (DOCKER_HOST, node and engine ids, raw database and
 * engine errors) tell an outsider where the engine is and what runs behind Warden; a load
 * balancer needs only the status (and the 200/503). A key or cookie that does not check out
 * (or a database that cannot check it) gets the public answer, never a 401: the route is open.
 */
export async function healthForRequest(req: Request): Promise<{ status: 'ok' | 'degraded' | 'down' } & Partial<Awaited<ReturnType<typeof healthReport>>>> {
  const report = await healthReport();
  const actor = report.db.ok ? await healthReader(req).catch(() => null) : null;
  return actor ? report : { status: report.status };
}

async function healthReader(req: Request): Promise<Actor | null> {
  const ctx = await getAppContext();
  const header = req.headers.get('authorization');
  const actor = header ? await authenticateBearer(ctx.db, header, ctx.clock.now()) : await requestActor(req, ctx);
  return actor?.kind === 'operator' ? actor : null;
}

