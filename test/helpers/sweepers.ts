import crypto from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { FakeClock } from '../../server/clock';
import type { Ctx } from '../../server/context';
import type { Db } from '../../server/db/client';
import { auditEvents, jobs, type AuditEvent, type Job, type Plan } from '../../server/db/schema';
import { createDockerRuntime } from '../../server/docker/runtime';
import type { DockerRuntime } from '../../server/docker/types';
import type { Actor } from '../../server/domain/actor';
import { submitJob } from '../../server/domain/jobs';
import { dispatchOnce } from '../../server/worker/dispatcher';
import { createTestDatabase } from './db';
import { TEST_IMAGE } from './docker';
import { makeCtx, makeUser, waitFor } from './fixtures';

/**
 * Sweeper test rig: a fresh database, the real Docker engine, a fake clock that starts at the
 * real time (so container ages line up) and a node id unique to this file, so the orphan
 * sweeper of one test file can never see another file's containers.
 */
export interface Rig {
  ctx: Ctx & { clock: FakeClock };
  db: Db;
  url: string;
  docker: DockerRuntime;
  node: string;
  user: { id: string; actor: Actor; apiKey: string };
  plan: Plan;
  /** Submits a job and starts it through the real dispatcher; returns the running row. */
  start(command: string[], opts?: { timeoutSeconds?: number; gracePeriodSeconds?: number; parentId?: string; maxRetries?: number; waitFor?: string; extra?: Record<string, unknown> }): Promise<Job>;
  job(id: string): Promise<Job>;
  audits(jobId: string, action?: string): Promise<AuditEvent[]>;
  /** Removes this node's containers, checks none leaked, drops the database. */
  close(): Promise<void>;
  /** Drops the database only (rigs without a reachable engine). */
  drop(): Promise<void>;
}

export async function makeRig(o: { docker?: DockerRuntime; plan?: Partial<Plan>; node?: string } = {}): Promise<Rig> {
  const tdb = await createTestDatabase();
  const docker = o.docker ?? createDockerRuntime();
  const node = o.node ?? `sw-${crypto.randomBytes(4).toString('hex')}`;
  const clock = new FakeClock(Date.now());
  const ctx = (await makeCtx(tdb.db, { clock, docker, node })) as Ctx & { clock: FakeClock };
  const { user, plan, actor, apiKey } = await makeUser(ctx, {
    // gracePeriodS is the cap a job may ask for (domain/caps.ts); start() asks for 1 s unless told.
    plan: { name: 'sweep', gracePeriodS: 30, warnBeforeS: 2, maxConcurrentJobs: 50, maxQueuedJobs: 500, monthlyQuotaS: null, maxTimeoutS: 3600, maxRetries: 3, ...o.plan },
  });
  const rig: Rig = {
    ctx,
    db: tdb.db,
    url: tdb.url,
    docker,
    node,
    user: { id: user.id, actor, apiKey },
    plan,
    async start(command, so = {}) {
      const j = await submitJob(ctx, actor, {
        image: TEST_IMAGE,
        command,
        timeoutSeconds: so.timeoutSeconds ?? 10,
        gracePeriodSeconds: so.gracePeriodSeconds ?? 1,
        ...(so.parentId ? { parentId: so.parentId } : {}),
        ...(so.maxRetries !== undefined ? { maxRetries: so.maxRetries } : {}),
        ...so.extra,
      });
      await waitFor(async () => {
        await dispatchOnce(ctx);
        const [r] = await tdb.db.select().from(jobs).where(eq(jobs.id, j.id));
        return r && r.status !== 'queued' && r.status !== 'starting' ? r : null;
      }, { what: `job ${j.id} to start` });
      const row = await rig.job(j.id);
      expect(row.status).toBe('running');
      if (so.waitFor) {
        const needle = so.waitFor;
        await waitFor(async () => (await docker.logsTail(row.containerId!)).includes(needle), { what: `"${needle}" in the job's output` });
      }
      return row;
    },
    async job(id) {
      const [r] = await tdb.db.select().from(jobs).where(eq(jobs.id, id));
      return r!;
    },
    async audits(jobId, action) {
      return tdb.db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.targetId, jobId), action ? eq(auditEvents.action, action) : undefined))
        .orderBy(asc(auditEvents.id));
    },
    async close() {
      await removeNodeContainers(docker, node);
      // Leak check: nothing this file started is left on the engine.
      expect(await docker.list({ 'warden.node': node })).toEqual([]);
      await tdb.drop();
    },
    async drop() {
      await tdb.drop();
    },
  };
  return rig;
}

export async function removeNodeContainers(docker: DockerRuntime, node: string): Promise<void> {
  for (const c of await docker.list({ 'warden.node': node })) await docker.remove(c.id);
}

/** Waits until Docker reports the container stopped (or gone). */
export async function waitStopped(docker: DockerRuntime, id: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => {
    const i = await docker.inspect(id);
    return !i || !i.running;
  }, { what: `container ${id.slice(0, 12)} to stop`, timeoutMs });
}

/** A runtime whose calls can be made to fail or do nothing, delegating the rest to a real one. */
export function faultyRuntime(
  real: DockerRuntime,
  faults: { kill?: (id: string, signal: 'SIGTERM' | 'SIGKILL') => 'fail' | 'noop' | 'pass'; remove?: (id: string) => 'fail' | 'pass' },
): DockerRuntime {
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'kill') {
        return async (id: string, signal: 'SIGTERM' | 'SIGKILL') => {
          const f = faults.kill?.(id, signal) ?? 'pass';
          if (f === 'fail') throw new Error(`injected: kill ${signal} failed`);
          if (f === 'noop') return true;
          return target.kill(id, signal);
        };
      }
      if (prop === 'remove') {
        return async (id: string) => {
          if ((faults.remove?.(id) ?? 'pass') === 'fail') throw new Error('injected: remove failed');
          return target.remove(id);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

export { TEST_IMAGE, waitFor };
