import { sql } from 'drizzle-orm';
import { appDocker, getAppContext } from './app';
import { config } from './config';
import { getDatabase } from './db/client';
import { listNodes } from './domain/nodes';

/** GET /api/health: database, Docker engine, worker heartbeats and each sweeper's last run. */
export async function healthReport() {
  const cfg = config();
  const out: {
    status: 'ok' | 'degraded' | 'down';
    db: { ok: boolean; error?: string };
    docker: { ok: boolean; state: 'reachable' | 'unreachable'; error?: string | null; host: string };
    worker: { enabled: boolean; node: string | null; nodes: { id: string; heartbeatAt: string; stale: boolean; dockerOk: boolean }[]; lastRuns: Record<string, { startedAt: string; finishedAt: string | null; errors: number; dryRun: boolean } | null> };
  } = {
    status: 'ok',
    db: { ok: false },
    docker: { ok: false, state: 'unreachable', host: cfg.DOCKER_HOST ?? 'unix:///var/run/docker.sock' },
    worker: { enabled: cfg.WARDEN_WORKER, node: cfg.WARDEN_NODE_ID ?? null, nodes: [], lastRuns: {} },
  };
  const docker = appDocker();
  const dockerOk = await docker.ping();
  out.docker = { ok: dockerOk, state: dockerOk ? 'reachable' : 'unreachable', error: dockerOk ? null : docker.lastError() ?? 'no answer', host: out.docker.host };
  try {
    const { db } = await getDatabase();
    await db.execute(sql`select 1`);
    out.db.ok = true;
    const ctx = await getAppContext();
    if (out.worker.node === null && ctx.node !== 'unresolved') out.worker.node = ctx.node;
    out.worker.nodes = (await listNodes(db, ctx.clock.now())).map((n) => ({ id: n.id, heartbeatAt: n.heartbeatAt, stale: n.stale, dockerOk: n.dockerOk }));
    const runs = await db.execute<{ sweeper: string; started_at: Date; finished_at: Date | null; errors: number; dry_run: boolean }>(sql`
      select distinct on (sweeper) sweeper, started_at, finished_at, errors, dry_run
      from sweeper_runs order by sweeper, started_at desc`);
    for (const r of runs) {
      out.worker.lastRuns[r.sweeper] = {
        startedAt: new Date(r.started_at).toISOString(),
        finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
        errors: Number(r.errors),
        dryRun: r.dry_run,
      };
    }
  } catch (e) {
    out.db = { ok: false, error: (e as Error).message };
  }
  out.status = !out.db.ok ? 'down' : !out.docker.ok ? 'degraded' : 'ok';
  return out;
}
