import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, asc, eq, inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, jobs, sweeperRuns, type Job } from '../server/db/schema';
import { submitJob } from '../server/domain/jobs';
import { dockerAvailable } from './helpers/docker';
import { makeRig, TEST_IMAGE, waitFor, type Rig } from './helpers/sweepers';

/**
 * Real worker processes (`bin/worker.ts`: dispatcher, events, sweepers on node-cron) sharing one
 * database and one Docker host (same WARDEN_NODE_ID). Every escalation step must happen once,
 * whichever replica gets there first; ticks of one sweeper never overlap; a worker killed with
 * SIGKILL mid-escalation is replaced and the job still ends as it should.
 *
 * No timing windows: jobs that exit on SIGTERM get a 30 s grace (so a slow exit on a busy box is
 * never SIGKILLed), the worker killed mid-escalation is gone long before its 15 s grace ends,
 * "both took turns" waits until both have run a tick, and a job that must outlive a worker's
 * shutdown waits for a file the test creates instead of sleeping.
 */

const IGNORE_TERM = ['sh', '-c', 'trap "" TERM; echo started; sleep 300'];
const BYE_ON_TERM = ['sh', '-c', 'trap "echo bye; exit 0" TERM; echo started; sleep 300 & wait'];

interface Worker {
  proc: ChildProcess;
  out: string[];
}

describe.skipIf(!dockerAvailable())('sweepers across worker processes (real Docker)', () => {
  let rig: Rig;
  const workers: Worker[] = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-rep-'));

  beforeAll(async () => {
    // TTL 0 for timed-out jobs: the TTL sweeper removes the container right after the outcome.
    rig = await makeRig({ node: `rep-${crypto.randomBytes(4).toString('hex')}`, plan: { ttlTimedOutS: 0, warnBeforeS: 0 } });
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await stopWorker(w);
  });
  afterAll(async () => {
    await rig?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function startWorker(): Worker {
    const env: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV' && k !== 'TEST') env[k] = v;
    Object.assign(env, {
      DATABASE_URL: rig.url,
      WARDEN_NODE_ID: rig.node,
      WARDEN_DATA_DIR: dataDir,
      WARDEN_TIMEOUT_SWEEP_S: '1',
      WARDEN_TTL_SWEEP_S: '1',
      WARDEN_ORPHAN_SWEEP_S: '2',
      WARDEN_ADMIN_EMAIL: 'admin@replicas.test',
      WARDEN_ADMIN_PASSWORD: 'replicas-password',
      LOG_LEVEL: 'warn',
    });
    const proc = spawn(process.execPath, ['bin/worker.mjs'], { cwd: process.cwd(), env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const w: Worker = { proc, out: [] };
    proc.stdout!.on('data', (d: Buffer) => w.out.push(d.toString()));
    proc.stderr!.on('data', (d: Buffer) => w.out.push(d.toString()));
    workers.push(w);
    return w;
  }

  async function stopWorker(w: Worker, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (w.proc.exitCode !== null || w.proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => w.proc.once('exit', () => r()));
    w.proc.kill(signal);
    const t = setTimeout(() => w.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }

  const submit = async (command: string[], timeoutSeconds: number, gracePeriodSeconds: number) =>
    submitJob(rig.ctx, rig.user.actor, { image: TEST_IMAGE, command, timeoutSeconds, gracePeriodSeconds });

  async function byAction(ids: string[], action: string) {
    const rows = await rig.db
      .select()
      .from(auditEvents)
      .where(and(inArray(auditEvents.targetId, ids), eq(auditEvents.action, action)))
      .orderBy(asc(auditEvents.id));
    return rows;
  }

  it('two workers: every job is signalled once per step, and ticks of a sweeper never overlap', async () => {
    const stubborn = await Promise.all(Array.from({ length: 5 }, () => submit(IGNORE_TERM, 2, 1)));
    const polite = await Promise.all(Array.from({ length: 3 }, () => submit(BYE_ON_TERM, 2, 30)));
    const ids = [...stubborn, ...polite].map((j) => j.id);
    const a = startWorker();
    const b = startWorker();
    let rows: Job[] = [];
    try {
      rows = await waitFor(async () => {
        const r = await rig.db.select().from(jobs).where(inArray(jobs.id, ids));
        return r.every((j) => j.status === 'timed_out' && j.cleanedAt) ? r : null;
      }, { what: 'every job timed out and cleaned', timeoutMs: 180_000, intervalMs: 250 });
    } catch (e) {
      throw new Error(`${String(e)}\nworker A:\n${a.out.join('').slice(-3000)}\nworker B:\n${b.out.join('').slice(-3000)}`);
    }
    for (const j of rows) expect(j).toMatchObject({ status: 'timed_out', exitCode: -1, reason: 'Timeout: exceeded 2s (job request)' });

    const per = (events: { targetId: string | null; success: boolean }[]) => {
      const m = new Map<string, number>();
      for (const e of events) if (e.success) m.set(e.targetId!, (m.get(e.targetId!) ?? 0) + 1);
      return m;
    };
    const sigterm = per(await byAction(ids, 'container.sigterm'));
    const sigkill = per(await byAction(ids, 'container.sigkill'));
    const timeouts = per(await byAction(ids, 'job.timeout'));
    const outcomes = per(await byAction(ids, 'job.timed_out'));
    const removes = per(await byAction(ids, 'container.remove'));
    for (const id of ids) {
      expect(sigterm.get(id), `SIGTERMs of ${id}`).toBe(1);
      expect(timeouts.get(id), `timeouts of ${id}`).toBe(1);
      expect(outcomes.get(id), `outcomes of ${id}`).toBe(1);
      expect(removes.get(id), `TTL removals of ${id}`).toBe(1);
    }
    for (const j of stubborn) expect(sigkill.get(j.id), `SIGKILLs of ${j.id}`).toBe(1);
    for (const j of polite) expect(sigkill.get(j.id) ?? 0).toBe(0);
    for (const j of rows.filter((r) => polite.some((p) => p.id === r.id))) expect(j.logTail).toContain('bye');
    for (const id of rows.map((r) => r.containerId!)) expect(await rig.docker.inspect(id)).toBeNull();

    // sweeper_runs: for each sweeper, intervals are disjoint, and both processes took turns
    // (waited for: which process wins a tick's lock is the scheduler's choice).
    const pidsOf = (rs: (typeof sweeperRuns.$inferSelect)[]) => new Set(rs.filter((r) => r.sweeper === 'timeout').map((r) => (r.details as { pid: number }).pid));
    const runs = await waitFor(async () => {
      const rs = await rig.db.select().from(sweeperRuns).where(eq(sweeperRuns.node, rig.node)).orderBy(asc(sweeperRuns.startedAt));
      const enough = ['timeout', 'ttl', 'orphans'].every((name) => rs.filter((r) => r.sweeper === name && r.finishedAt).length > 1);
      return enough && pidsOf(rs).size === 2 ? rs : null;
    }, { what: 'two finished runs of each sweeper, and timeout ticks from both workers', timeoutMs: 120_000, intervalMs: 500 });
    for (const name of ['timeout', 'ttl', 'orphans']) {
      const rs = runs.filter((r) => r.sweeper === name && r.finishedAt);
      for (let i = 1; i < rs.length; i++) {
        expect(rs[i]!.startedAt.getTime(), `${name} run ${rs[i]!.id} starts after ${rs[i - 1]!.id} ends`).toBeGreaterThanOrEqual(rs[i - 1]!.finishedAt!.getTime());
      }
    }
    expect(pidsOf(runs)).toEqual(new Set([a.proc.pid, b.proc.pid]));
  }, 300_000);

  it('kill -9 a worker mid-escalation: its successor finishes the job, with no repeated step', async () => {
    // A 15 s grace: the first worker is killed right after its SIGTERM, long before its SIGKILL is due.
    const j = await submit(IGNORE_TERM, 2, 15);
    const a = startWorker();
    await waitFor(async () => (await byAction([j.id], 'container.sigterm')).some((e) => e.success), {
      what: 'the first worker to send SIGTERM',
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    a.proc.kill('SIGKILL');
    await new Promise<void>((r) => (a.proc.exitCode !== null || a.proc.signalCode !== null ? r() : a.proc.once('exit', () => r())));
    const mid = await rig.job(j.id);
    expect(mid.status).toBe('terminating');
    expect(mid.sigtermAt).not.toBeNull();
    expect(mid.sigkillAt).toBeNull();
    expect((await rig.docker.inspect(mid.containerId!))?.running).toBe(true); // it ignores SIGTERM

    startWorker();
    const done = await waitFor(async () => {
      const r = await rig.job(j.id);
      return r.status === 'timed_out' && r.cleanedAt ? r : null;
    }, { what: 'the job to end timed_out and be cleaned', timeoutMs: 120_000, intervalMs: 200 });
    expect(done).toMatchObject({ exitCode: -1, reason: 'Timeout: exceeded 2s (job request)' });
    expect(await rig.docker.inspect(done.containerId!)).toBeNull();
    const ok = async (action: string) => (await byAction([j.id], action)).filter((e) => e.success).length;
    expect(await ok('job.timeout')).toBe(1);
    expect(await ok('container.sigterm')).toBe(1);
    expect(await ok('container.sigkill')).toBe(1);
    expect(await ok('job.timed_out')).toBe(1);
    // SIGKILL came a full grace after the SIGTERM the dead worker sent.
    const [term] = await byAction([j.id], 'container.sigterm');
    const [kill] = await byAction([j.id], 'container.sigkill');
    expect(kill!.at.getTime() - term!.at.getTime()).toBeGreaterThanOrEqual(15_000);
  }, 300_000);
  it('SIGTERM: the worker exits cleanly, leaves its running container alone, and a new worker finishes the job', async () => {
    // It runs until the test lets it finish (a file in the container), not for a fixed time.
    const long = await submit(['sh', '-c', 'echo started; while [ ! -e /tmp/finish ]; do sleep 0.1; done; echo finished'], 120, 5);
    const a = startWorker();
    const running = await waitFor(async () => {
      const r = await rig.job(long.id);
      return r.status === 'running' && r.containerId ? r : null;
    }, { what: 'the job to run', timeoutMs: 120_000, intervalMs: 100 });
    const exited = new Promise<number | null>((r) => a.proc.once('exit', (code) => r(code)));
    a.proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Shutdown touched neither the container nor the job.
    expect((await rig.docker.inspect(running.containerId!))?.running).toBe(true);
    expect((await rig.job(long.id)).status).toBe('running');
    // Work submitted while no worker runs just waits.
    const later = await submit(['sh', '-c', 'echo later'], 60, 5);
    expect((await rig.job(later.id)).status).toBe('queued');

    startWorker();
    execFileSync('docker', ['exec', running.containerId!, 'touch', '/tmp/finish']);
    const done = await waitFor(async () => {
      const [x, y] = await Promise.all([rig.job(long.id), rig.job(later.id)]);
      return x.status === 'succeeded' && y.status === 'succeeded' ? [x, y] : null;
    }, { what: 'both jobs to succeed under the new worker', timeoutMs: 120_000, intervalMs: 200 });
    expect(done[0]!).toMatchObject({ exitCode: 0, containerId: running.containerId, attempt: 1 });
    expect(done[0]!.logTail).toBe('started\nfinished\n');
    expect(done[1]!.logTail).toBe('later\n');
  }, 300_000);
});
