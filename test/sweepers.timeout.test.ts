import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobs, sweeperRuns, webhookDeliveries, webhookEvents, webhooks, type Job } from '../server/db/schema';
import { createDockerRuntime } from '../server/docker/runtime';
import { extendJob, killJob, suspendJobTimeout } from '../server/domain/jobs';
import { sweep } from '../server/sweepers';
import { parseConfig } from '../server/config';
import { setSweeperDryRun } from '../server/domain/sweeper-settings';
import { fireDeadlines, upcomingDeadlines } from '../server/sweepers/deadlines';
import { nextDeadline } from '../server/sweepers/timeout';
import { dockerAvailable } from './helpers/docker';
import { ADMIN, OPERATOR } from './helpers/fixtures';
import { faultyRuntime, makeRig, waitStopped, type Rig } from './helpers/sweepers';

/**
 * The timeout sweeper against real PostgreSQL and the real Docker engine. Time is a fake clock
 * the test moves (deadlines, graces); only the containers run in real time, and the tests wait
 * for them on conditions, never with sleeps.
 */

const IGNORE_TERM = ['sh', '-c', 'trap "" TERM; echo started; sleep 300'];
// `sleep & wait`: a trapped signal interrupts `wait`, whereas a foreground `sleep` would delay
// the trap until it finished.
const BYE_ON_TERM = ['sh', '-c', 'trap "echo bye; exit 0" TERM; echo started; sleep 300 & wait'];
const PLAIN = ['sh', '-c', 'echo started; sleep 300'];

describe.skipIf(!dockerAvailable())('timeout sweeper (real Docker)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await makeRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  const tick = () => sweep(rig.ctx, 'timeout');
  const actions = async (id: string) => (await rig.audits(id)).map((a) => `${a.action}${a.success ? '' : '!'}`);

  it('warns, SIGTERMs at the deadline, SIGKILLs a job that ignores SIGTERM after the grace', async () => {
    const j = await rig.start(IGNORE_TERM, { timeoutSeconds: 5, gracePeriodSeconds: 1, waitFor: 'started' });
    const deadline = j.deadlineAt!.getTime();

    rig.ctx.clock.set(deadline - 2001);
    expect((await tick()).acted).toBe(0);
    rig.ctx.clock.set(deadline - 2000); // warn_before = 2 s
    expect((await tick()).planned.map((p) => p.kind)).toEqual(['warn']);
    expect((await rig.job(j.id)).warnedAt).not.toBeNull();
    expect((await tick()).planned).toEqual([]); // warned once

    rig.ctx.clock.set(deadline);
    const r = await tick();
    expect(r.planned.map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    let row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'terminating', terminateKind: 'timeout', terminateReason: 'Timeout: exceeded 5s (job request)' });
    expect(row.sigtermAt?.getTime()).toBe(deadline);
    expect((await rig.docker.inspect(j.containerId!))?.running).toBe(true);

    // Inside the grace: nothing. At SIGTERM + grace: the container still runs, so SIGKILL.
    rig.ctx.clock.set(deadline + 999);
    expect((await tick()).planned).toEqual([]);
    rig.ctx.clock.set(deadline + 1000);
    expect((await tick()).planned.map((p) => p.kind)).toEqual(['sigkill']);
    await waitStopped(rig.docker, j.containerId!);
    const ins = await rig.docker.inspect(j.containerId!);
    expect(ins?.exitCode).toBe(137);

    // The next due step finds it stopped and records the outcome.
    rig.ctx.clock.set(deadline + 2000);
    await tick();
    row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'timed_out', exitCode: -1, reason: 'Timeout: exceeded 5s (job request)' });
    expect(row.logTail).toContain('started');
    expect(await actions(j.id)).toEqual(['job.submit', 'job.claim', 'container.start', 'job.warn', 'job.timeout', 'container.sigterm', 'container.sigkill', 'job.timed_out']);
  });

  it('the deadline timer sees a deadline that passed while the tick ran (after its snapshot), and only from the tick start', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 30, waitFor: 'started' });
    const d = j.deadlineAt!.getTime();
    // The tick started 200 ms before the deadline; it is now 100 ms after it.
    const now = new Date(d + 100);
    expect(await nextDeadline(rig.ctx, now, 1000, new Date(d - 200))).toEqual(new Date(d));
    // From now only (what the timer used to ask): the passed deadline is not seen, and would wait for the next cron tick.
    expect(await nextDeadline(rig.ctx, now, 1000)).toBeNull();
    // A tick that started after it (and so handled it) is not sent back to it.
    expect(await nextDeadline(rig.ctx, now, 1000, new Date(d + 50))).toBeNull();
    rig.ctx.clock.set(d);
    expect((await tick()).planned.map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    // The SIGTERM's claim rode on the timeout's write: sigterm_at is the deadline tick's time.
    expect((await rig.job(j.id)).sigtermAt?.getTime()).toBe(d);
    expect(await actions(j.id)).toEqual(['job.submit', 'job.claim', 'container.start', 'job.timeout', 'container.sigterm']);
  });

  it('deadline fast path: jobs read ahead are timed out and SIGTERMed at their deadline; an extend or dry-run since the read makes it a no-op; racing a tick, one signal each', async () => {
    const cfg = parseConfig({});
    const started = await Promise.all(Array.from({ length: 4 }, () => rig.start(BYE_ON_TERM, { timeoutSeconds: 20, waitFor: 'started' })));
    const [a, b, c, d] = started as [Job, Job, Job, Job];
    const times = started.map((j) => j.deadlineAt!.getTime());
    const latest = Math.max(...times);
    // Read ahead, as the scheduler does before the deadlines come.
    const ahead = (await upcomingDeadlines(rig.ctx, new Date(Math.min(...times) - 1), new Date(latest), 500)).filter((r) => started.some((j) => j.id === r.id));
    expect(ahead.map((r) => r.id).sort()).toEqual(started.map((j) => j.id).sort());
    const read = (j: Job) => ahead.find((r) => r.id === j.id)!;
    await extendJob(rig.ctx, OPERATOR, b.id, { seconds: 60 });
    rig.ctx.clock.set(latest);

    // Dry-run switched on after the read: nothing happens.
    await setSweeperDryRun(rig.ctx, ADMIN, 'timeout', true);
    expect(await fireDeadlines(rig.ctx, cfg, [read(c)])).toEqual({ timedOut: 0, signalled: 0, errors: 0 });
    expect(await rig.job(c.id)).toMatchObject({ status: 'running', sigtermAt: null });
    await setSweeperDryRun(rig.ctx, ADMIN, 'timeout', false);

    // a at its deadline: terminating, SIGTERM claimed in the same write and sent. b was extended
    // after the read: its stored deadline is not the one read, so it is left running.
    expect(await fireDeadlines(rig.ctx, cfg, [read(a), read(b)])).toEqual({ timedOut: 1, signalled: 1, errors: 0 });
    expect(await rig.job(a.id)).toMatchObject({ status: 'terminating', terminateKind: 'timeout', terminateReason: 'Timeout: exceeded 20s (job request)' });
    expect((await rig.job(a.id)).sigtermAt?.getTime()).toBe(latest);
    await waitStopped(rig.docker, a.containerId!);
    expect(await actions(a.id)).toEqual(['job.submit', 'job.claim', 'container.start', 'job.timeout', 'container.sigterm']);
    expect((await rig.audits(a.id, 'job.timeout'))[0]!.actor).toBe('sweeper:timeout');
    expect(await rig.job(b.id)).toMatchObject({ status: 'running', sigtermAt: null });
    expect((await rig.job(b.id)).deadlineAt!.getTime()).toBe(b.deadlineAt!.getTime() + 60_000);

    // c and d: the fast path and a tick at once. One transition and one SIGTERM per job.
    await Promise.all([fireDeadlines(rig.ctx, cfg, [read(c), read(d)]), tick()]);
    for (const j of [c, d]) {
      await waitStopped(rig.docker, j.containerId!);
      expect(await rig.audits(j.id, 'job.timeout')).toHaveLength(1);
      expect((await rig.audits(j.id, 'container.sigterm')).filter((x) => x.success)).toHaveLength(1);
    }
    // The completion records the outcome (a tick past the grace finds them stopped).
    rig.ctx.clock.set(latest + 2000);
    await tick();
    for (const j of [a, c, d]) expect((await rig.job(j.id)).status).toBe('timed_out');
    await killJob(rig.ctx, OPERATOR, b.id, { reason: 'cleanup' });
  });

  it('the timeout write is one statement: the move, its audit row (the stored deadline, the lateness) and its webhook event (the job as terminating) — or, when it matches nothing, nothing', async () => {
    const cfg = parseConfig({});
    const [hook] = await rig.db
      .insert(webhooks)
      .values({ url: 'http://127.0.0.1:9/hook', secret: 'x'.repeat(32), events: ['job.terminating'], userId: rig.user.id, ownerUserId: rig.user.id, createdBy: 'test' })
      .returning();
    try {
      const j = await rig.start(PLAIN, { timeoutSeconds: 20, waitFor: 'started' });
      const events = () => rig.db.select().from(webhookEvents).where(eq(webhookEvents.jobId, j.id));
      const [read] = await upcomingDeadlines(rig.ctx, new Date(j.deadlineAt!.getTime() - 1), j.deadlineAt!, 500).then((rs) => rs.filter((r) => r.id === j.id));
      // Extended after the read: the fast path's write matches nothing and writes nothing.
      await extendJob(rig.ctx, OPERATOR, j.id, { seconds: 60 });
      rig.ctx.clock.set(j.deadlineAt!.getTime() + 250);
      expect(await fireDeadlines(rig.ctx, cfg, [read!])).toEqual({ timedOut: 0, signalled: 0, errors: 0 });
      expect(await rig.audits(j.id, 'job.timeout')).toEqual([]);
      expect(await events()).toEqual([]);

      // 250 ms past the stored deadline, through the tick.
      const stored = (await rig.job(j.id)).deadlineAt!;
      rig.ctx.clock.set(stored.getTime() + 250);
      await tick();
      const row = await rig.job(j.id);
      expect(row).toMatchObject({ status: 'terminating', terminateKind: 'timeout' });
      const [moved] = await rig.audits(j.id, 'job.timeout');
      expect(moved!.details).toEqual({ from: 'running', to: 'terminating', deadlineAt: stored.toISOString(), latenessSeconds: 0.25 });
      const evs = await events();
      expect(evs).toHaveLength(1);
      expect(evs[0]).toMatchObject({ type: 'job.terminating', at: new Date(stored.getTime() + 250), data: { kind: 'timeout', reason: moved!.reason } });
      expect(evs[0]!.job).toMatchObject({ id: j.id, status: 'terminating', terminate_kind: 'timeout', terminate_reason: moved!.reason });
      expect(evs[0]!.job).not.toHaveProperty('env');
      const dels = await rig.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.eventSeq, evs[0]!.seq));
      expect(dels.map((x) => x.webhookId)).toEqual([hook!.id]);
      await waitStopped(rig.docker, j.containerId!);
    } finally {
      await rig.db.delete(webhooks).where(eq(webhooks.id, hook!.id));
    }
  });

  it('a job that traps SIGTERM and exits 0 is still timed_out, with its last output saved', async () => {
    const j = await rig.start(BYE_ON_TERM, { timeoutSeconds: 3, gracePeriodSeconds: 2, waitFor: 'started' });
    rig.ctx.clock.set(j.deadlineAt!);
    await tick();
    await waitStopped(rig.docker, j.containerId!);
    expect((await rig.docker.inspect(j.containerId!))?.exitCode).toBe(0);
    rig.ctx.clock.set(j.deadlineAt!.getTime() + 2000);
    const r = await tick();
    expect(r.planned.map((p) => p.kind)).toEqual(['sigkill']); // due, but re-inspect says it stopped: no signal
    const row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'timed_out', exitCode: -1 });
    expect(row.logTail).toMatch(/started\s+bye/);
    const fin = (await rig.audits(j.id, 'job.timed_out'))[0]!;
    expect(fin.details).toMatchObject({ containerExitCode: 0 });
    expect(await rig.audits(j.id, 'container.sigkill')).toHaveLength(0);
  });

  it('force-removes a container that survives SIGKILL, saving its log tail first', async () => {
    // A container SIGKILL cannot stop (a process stuck in the kernel): the runtime swallows SIGKILL.
    const stuck = faultyRuntime(rig.docker, { kill: (_id, sig) => (sig === 'SIGKILL' ? 'noop' : 'pass') });
    const ctx = { ...rig.ctx, docker: stuck };
    const j = await rig.start(IGNORE_TERM, { timeoutSeconds: 3, gracePeriodSeconds: 1, waitFor: 'started' });
    const d = j.deadlineAt!.getTime();
    for (const [t, want] of [
      [d, ['timeout', 'sigterm']],
      [d + 1000, ['sigkill']],
      [d + 1999, []],
      [d + 2000, ['remove']], // deadline + 2×grace
    ] as const) {
      rig.ctx.clock.set(t);
      expect((await sweep(ctx, 'timeout')).planned.map((p) => p.kind)).toEqual(want);
    }
    expect(await rig.docker.inspect(j.containerId!)).toBeNull();
    const row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'timed_out', exitCode: -1 });
    expect(row.logTail).toContain('started');
    expect(await actions(j.id)).toEqual(['job.submit', 'job.claim', 'container.start', 'job.timeout', 'container.sigterm', 'container.sigkill', 'container.remove', 'job.timed_out']);
    // At its TTL the TTL sweeper finds the container already gone and marks the job cleaned.
    expect(row.cleanedAt).toBeNull();
    rig.ctx.clock.set(row.ttlExpiresAt!);
    await sweep(rig.ctx, 'ttl');
    expect((await rig.job(j.id)).cleanedAt).not.toBeNull();
    expect((await rig.audits(j.id, 'job.cleaned'))[0]!.details).toMatchObject({ container: 'gone' });
  });

  it('a Docker error never leaves the job running past its deadline; the signal is retried with backoff', async () => {
    let fail = true;
    const flaky = faultyRuntime(rig.docker, { kill: () => (fail ? 'fail' : 'pass') });
    const ctx = { ...rig.ctx, docker: flaky };
    const j = await rig.start(PLAIN, { timeoutSeconds: 3, waitFor: 'started' });
    const d = j.deadlineAt!.getTime();
    rig.ctx.clock.set(d);
    const r1 = await sweep(ctx, 'timeout');
    expect(r1.errors).toBe(1);
    let row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'terminating', sigtermAt: null, sideEffectFailures: 1 });
    expect(row.nextAttemptAt?.getTime()).toBe(d + 1000);
    expect(await actions(j.id)).toContain('container.sigterm!');
    // Backing off: the same tick time does nothing; the second failure doubles the wait.
    expect((await sweep(ctx, 'timeout')).planned).toEqual([]);
    rig.ctx.clock.set(d + 1000);
    await sweep(ctx, 'timeout');
    row = await rig.job(j.id);
    expect(row.sideEffectFailures).toBe(2);
    expect(row.nextAttemptAt?.getTime()).toBe(d + 3000);
    fail = false;
    rig.ctx.clock.set(d + 3000);
    expect((await sweep(ctx, 'timeout')).acted).toBe(1);
    row = await rig.job(j.id);
    expect(row).toMatchObject({ sideEffectFailures: 0, nextAttemptAt: null });
    expect(row.sigtermAt?.getTime()).toBe(d + 3000);
    await waitStopped(rig.docker, j.containerId!);
    rig.ctx.clock.set(d + 4000);
    await sweep(ctx, 'timeout');
    expect((await rig.job(j.id)).status).toBe('timed_out');
    expect((await rig.audits(j.id, 'container.sigterm')).map((a) => a.success)).toEqual([false, false, true]);
  });

  it('kill racing the sweeper: one winner, one transition, one SIGTERM per job', async () => {
    const started = await Promise.all(Array.from({ length: 4 }, () => rig.start(PLAIN, { timeoutSeconds: 3, waitFor: 'started' })));
    const last = Math.max(...started.map((j) => j.deadlineAt!.getTime()));
    rig.ctx.clock.set(last);
    const results = await Promise.allSettled([tick(), ...started.map((j) => killJob(rig.ctx, OPERATOR, j.id, { reason: 'race' }))]);
    expect(results[0]!.status).toBe('fulfilled');
    for (const r of results.slice(1)) {
      if (r.status === 'rejected') expect(String(r.reason)).toMatch(/already terminating/);
    }
    for (const j of started) await waitStopped(rig.docker, j.containerId!);
    rig.ctx.clock.set(last + 2000);
    await tick();
    for (const j of started) {
      const row = await rig.job(j.id);
      const kills = await rig.audits(j.id, 'job.kill');
      const timeouts = await rig.audits(j.id, 'job.timeout');
      expect(kills.length + timeouts.length).toBe(1);
      expect(row.status).toBe(kills.length ? 'killed' : 'timed_out');
      expect(row.reason).toBe(kills.length ? `Killed by operator:${(OPERATOR as { email: string }).email}: race` : 'Timeout: exceeded 3s (job request)');
      expect((await rig.audits(j.id, 'container.sigterm')).filter((a) => a.success)).toHaveLength(1);
      expect(await rig.audits(j.id, 'container.sigkill')).toHaveLength(0);
    }
  });

  it('extend during terminating is refused; extend racing the deadline either wins cleanly or is refused', async () => {
    const a = await rig.start(PLAIN, { timeoutSeconds: 3, waitFor: 'started' });
    rig.ctx.clock.set(a.deadlineAt!);
    await tick();
    expect((await rig.job(a.id)).status).toBe('terminating');
    await expect(extendJob(rig.ctx, OPERATOR, a.id, { seconds: 60 })).rejects.toMatchObject({ status: 409, code: 'not_running' });
    await waitStopped(rig.docker, a.containerId!);
    rig.ctx.clock.set(a.deadlineAt!.getTime() + 1000);
    await tick();
    expect((await rig.job(a.id)).status).toBe('timed_out');
    expect(await rig.audits(a.id, 'job.extend')).toHaveLength(0);

    const bs = await Promise.all(Array.from({ length: 4 }, () => rig.start(PLAIN, { timeoutSeconds: 3, waitFor: 'started' })));
    const t = Math.max(...bs.map((b) => b.deadlineAt!.getTime()));
    rig.ctx.clock.set(t);
    const res = await Promise.allSettled([tick(), ...bs.map((b) => extendJob(rig.ctx, OPERATOR, b.id, { seconds: 60 }))]);
    for (const [i, b] of bs.entries()) {
      const r = res[i + 1]!;
      const row = await rig.job(b.id);
      if (r.status === 'fulfilled') {
        expect(row.status).toBe('running');
        expect(row.deadlineAt!.getTime()).toBe(b.deadlineAt!.getTime() + 60_000);
        expect(await rig.audits(b.id, 'job.timeout')).toHaveLength(0);
        expect(await rig.audits(b.id, 'container.sigterm')).toHaveLength(0);
        expect((await rig.docker.inspect(b.containerId!))?.running).toBe(true);
      } else {
        expect(r.reason).toMatchObject({ status: 409 });
        expect(row.status).toBe('terminating');
        expect(await rig.audits(b.id, 'job.extend')).toHaveLength(0);
      }
      await killJob(rig.ctx, OPERATOR, b.id, { force: true }).catch(() => {});
    }
  });

  it('skips suspended timeouts; resuming lets the stored deadline apply', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 3, waitFor: 'started' });
    await suspendJobTimeout(rig.ctx, ADMIN, j.id, true, 'debugging');
    rig.ctx.clock.set(j.deadlineAt!.getTime() + 60_000);
    expect((await tick()).planned.filter((p) => p.jobId === j.id)).toEqual([]);
    expect((await rig.job(j.id)).status).toBe('running');
    await suspendJobTimeout(rig.ctx, ADMIN, j.id, false);
    expect((await tick()).planned.filter((p) => p.jobId === j.id).map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    const acts = (await rig.audits(j.id)).map((a) => a.action);
    expect(acts).toEqual(expect.arrayContaining(['job.timeout_suspend', 'job.timeout_resume', 'job.timeout']));
    expect((await rig.audits(j.id, 'job.timeout_suspend'))[0]!.reason).toBe('debugging');
    await waitStopped(rig.docker, j.containerId!);
  });

  it('kill: SIGTERM at once via the fast path; force skips the grace; a web-only kill is picked up by the sweeper', async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => rig.start(IGNORE_TERM, { timeoutSeconds: 600, gracePeriodSeconds: 1, waitFor: 'started' })));
    // a: plain kill from a process with Docker: signalled before killJob returns.
    const ka = await killJob(rig.ctx, OPERATOR, a!.id, { reason: 'stop it' });
    expect(ka.status).toBe('terminating');
    expect(ka.sigtermAt).not.toBeNull();
    // b: force → SIGKILL straight away, no SIGTERM.
    const kb = await killJob(rig.ctx, OPERATOR, b!.id, { force: true });
    expect(kb.sigkillAt).not.toBeNull();
    expect(kb.sigtermAt).toBeNull();
    // c: a web-only replica (no Docker) records the kill; the sweeper sends the signal.
    const kc = await killJob({ ...rig.ctx, docker: null }, OPERATOR, c!.id);
    expect(kc.sigtermAt).toBeNull();
    expect((await tick()).planned).toEqual([{ kind: 'sigterm', jobId: c!.id, containerId: c!.containerId, detail: 'kill' }]);
    // A second kill (not force) is refused; the step is never repeated.
    await expect(killJob(rig.ctx, OPERATOR, c!.id)).rejects.toMatchObject({ status: 409, code: 'already_terminating' });

    await waitStopped(rig.docker, b!.containerId!);
    rig.ctx.clock.advance(1000);
    await tick(); // a and c ignore SIGTERM: SIGKILL after the grace; b is finished.
    for (const j of [a!, c!]) await waitStopped(rig.docker, j.containerId!);
    rig.ctx.clock.advance(1000);
    await tick();
    for (const j of [a!, b!, c!]) {
      const row = await rig.job(j.id);
      expect(row.status).toBe('killed');
      expect(row.reason).toMatch(/^Killed by operator:op@test/);
    }
    expect((await rig.audits(a!.id)).map((x) => x.action).filter((x) => x.startsWith('container.'))).toEqual(['container.start', 'container.sigterm', 'container.sigkill']);
    expect((await rig.audits(b!.id)).map((x) => x.action).filter((x) => x.startsWith('container.'))).toEqual(['container.start', 'container.sigkill']);
    expect((await rig.audits(c!.id)).map((x) => x.action).filter((x) => x.startsWith('container.'))).toEqual(['container.start', 'container.sigterm', 'container.sigkill']);
  });

  it("hierarchy: a child's deadline is capped by its parent's, extend refuses to pass it, and the parent's end kills the child", async () => {
    const parent = await rig.start(PLAIN, { timeoutSeconds: 60, waitFor: 'started' });
    rig.ctx.clock.advance(10_000);
    const child = await rig.start(PLAIN, { timeoutSeconds: 300, parentId: parent.id, waitFor: 'started' });
    expect(child.deadlineAt!.getTime()).toBe(parent.deadlineAt!.getTime());
    expect(child.timeoutSource).toBe('parent');
    await expect(extendJob(rig.ctx, OPERATOR, child.id, { seconds: 5 })).rejects.toMatchObject({ status: 422, code: 'exceeds_parent' });

    // The parent ends (killed, forced): finishJob's stopChildren moves the child to terminating.
    await killJob(rig.ctx, OPERATOR, parent.id, { force: true });
    await waitStopped(rig.docker, parent.containerId!);
    rig.ctx.clock.advance(2000);
    await tick();
    expect((await rig.job(parent.id)).status).toBe('killed');
    let c = await rig.job(child.id);
    expect(c).toMatchObject({ status: 'terminating', terminateKind: 'parent', terminateReason: `Parent job ${parent.id} ended (killed)` });
    // This or the next tick sends the child its SIGTERM (kind parent); it stops and ends killed.
    await tick();
    await waitStopped(rig.docker, child.containerId!);
    rig.ctx.clock.advance(2000);
    await tick();
    c = await rig.job(child.id);
    expect(c).toMatchObject({ status: 'killed', reason: `Parent job ${parent.id} ended (killed)` });
    const sig = (await rig.audits(child.id, 'container.sigterm'))[0]!;
    expect(sig.details).toMatchObject({ kind: 'parent' });
  });

  it('dry-run: plans recorded, nothing changed in Docker or the database', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 3, waitFor: 'started' });
    rig.ctx.clock.set(j.deadlineAt!.getTime() + 5000);
    const before = await rig.audits(j.id);
    const r = await sweep(rig.ctx, 'timeout', { dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.planned.filter((p) => p.jobId === j.id).map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    expect(r.acted).toBe(0);
    const row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'running', sigtermAt: null, terminateKind: null });
    expect(await rig.audits(j.id)).toEqual(before);
    expect((await rig.docker.inspect(j.containerId!))?.running).toBe(true);
    const [run] = await rig.db.select().from(sweeperRuns).where(eq(sweeperRuns.id, r.runId!));
    expect(run).toMatchObject({ sweeper: 'timeout', dryRun: true, acted: 0, node: rig.node });
    expect((run!.details as { planned: { kind: string }[] }).planned.map((p) => p.kind)).toEqual(expect.arrayContaining(['timeout', 'sigterm']));
    // The real tick then does it.
    await tick();
    expect((await rig.job(j.id)).status).toBe('terminating');
    await waitStopped(rig.docker, j.containerId!);
    await rig.db.update(jobs).set({ gracePeriodS: 0 }).where(eq(jobs.id, j.id));
    await tick();
    expect((await rig.job(j.id)).status).toBe('timed_out');
  });

  it('waits for a container-less terminating job, then finishes it', async () => {
    // Killed while `starting` and the start never completed: no container will ever come.
    const [row] = await rig.db
      .insert(jobs)
      .values({
        userId: rig.user.id,
        image: 'x',
        status: 'terminating',
        maxRetries: 0,
        timeoutS: 10,
        timeoutSource: 'job',
        gracePeriodS: 1,
        queuedAt: rig.ctx.clock.now(),
        node: rig.node,
        terminateKind: 'kill',
        terminateReason: 'Killed by operator:op@test',
        terminateRequestedAt: rig.ctx.clock.now(),
      })
      .returning();
    expect((await tick()).planned.filter((p) => p.jobId === row!.id)).toEqual([]);
    rig.ctx.clock.advance(120_000);
    await tick();
    expect(await rig.job(row!.id)).toMatchObject({ status: 'killed', reason: 'Killed by operator:op@test' });
  });
});

describe('timeout sweeper without a Docker engine', () => {
  it('still moves overdue jobs to terminating and audits the failed signal', async () => {
    const down = createDockerRuntime({ dockerHost: 'unix:///tmp/warden-no-such-docker.sock' });
    const rig = await makeRig({ docker: down });
    try {
      const now = rig.ctx.clock.now();
      const [j] = await rig.db
        .insert(jobs)
        .values({
          userId: rig.user.id,
          image: 'x',
          status: 'running',
          maxRetries: 0,
          timeoutS: 10,
          timeoutSource: 'plan',
          gracePeriodS: 1,
          queuedAt: now,
          startedAt: new Date(now.getTime() - 10_000),
          deadlineAt: now,
          node: rig.node,
          containerId: 'deadbeef',
        })
        .returning();
      const r = await sweep(rig.ctx, 'timeout');
      expect(r.errors).toBe(1);
      const row = await rig.job(j!.id);
      expect(row).toMatchObject({ status: 'terminating', terminateReason: 'Timeout: exceeded 10s (plan sweep)', sideEffectFailures: 1 });
      const sig = await rig.audits(j!.id, 'container.sigterm');
      expect(sig).toHaveLength(1);
      expect(sig[0]).toMatchObject({ success: false });
      expect(sig[0]!.error).toMatch(/unreachable/);
    } finally {
      await rig.drop();
    }
  });
});
