import { describe, expect, it } from 'vitest';
import { FakeClock } from '../server/clock';
import { backoffMs } from '../server/domain/side-effects';
import { NO_CONTAINER_WAIT_MS } from '../server/domain/termination';
import type { JobRef } from '../server/domain/orphans';
import { cronExpression } from '../server/sweepers';
import * as orphans from '../server/sweepers/orphans';
import * as timeout from '../server/sweepers/timeout';
import * as ttl from '../server/sweepers/ttl';

/**
 * Table-driven tests of the pure plan() steps, Kubernetes-style: a fake clock, rows built by
 * hand, no database and no Docker. Each row is "at this moment, with this state, do this".
 */

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const at = (s: number) => new Date(T0 + s * 1000);

function tjob(over: Partial<timeout.TimeoutJob> = {}): timeout.TimeoutJob {
  return {
    id: '11111111-1111-4111-8111-111111111111',
    status: 'running',
    attempt: 1,
    containerId: 'c0ffee',
    node: 'n1',
    startedAt: at(-300),
    deadlineAt: at(0),
    timeoutS: 300,
    timeoutSource: 'plan',
    timeoutSuspended: false,
    gracePeriodS: 10,
    warnedAt: null,
    terminateRequestedAt: null,
    terminateKind: null,
    terminateForce: false,
    sigtermAt: null,
    sigkillAt: null,
    sideEffectFailures: 0,
    nextAttemptAt: null,
    warnBeforeS: 30,
    planName: 'free',
    className: null,
    idleTimeoutS: null,
    idleDeadlineAt: null,
    lastOutputAt: null,
    ...over,
  };
}

const kinds = (a: { kind: string }[]) => a.map((x) => x.kind);

describe('timeout plan', () => {
  const clock = new FakeClock(T0);
  const terminating = (over: Partial<timeout.TimeoutJob> = {}) =>
    tjob({ status: 'terminating', terminateKind: 'timeout', terminateRequestedAt: at(0), ...over });

  const cases: { name: string; job: timeout.TimeoutJob; t: number; want: string[] }[] = [
    // warn at deadline − warn_before (30 s)
    { name: 'running, long before the warning', job: tjob(), t: -31, want: [] },
    { name: 'running, at deadline − warn_before: warn', job: tjob(), t: -30, want: ['warn'] },
    { name: 'running, inside the warning window: warn', job: tjob(), t: -1, want: ['warn'] },
    { name: 'running, already warned', job: tjob({ warnedAt: at(-30) }), t: -1, want: [] },
    { name: 'plan without warnings (warn_before 0)', job: tjob({ warnBeforeS: 0 }), t: -1, want: [] },
    // SIGTERM at the deadline
    { name: 'running, 1 ms before the deadline', job: tjob({ warnedAt: at(-30) }), t: -0.001, want: [] },
    { name: 'running, at the deadline: terminate + SIGTERM', job: tjob({ warnedAt: at(-30) }), t: 0, want: ['timeout', 'sigterm'] },
    { name: 'running, past the deadline, never warned: no warn, terminate', job: tjob(), t: 5, want: ['timeout', 'sigterm'] },
    { name: 'suspended timeout: nothing, even long past', job: tjob({ timeoutSuspended: true }), t: 10_000, want: [] },
    { name: 'no deadline (not started)', job: tjob({ deadlineAt: null }), t: 10_000, want: [] },
    {
      name: 'past deadline while backing off: DB move only, signal waits',
      job: tjob({ nextAttemptAt: at(3), sideEffectFailures: 2 }),
      t: 1,
      want: ['timeout'],
    },
    { name: 'past deadline, backoff over', job: tjob({ nextAttemptAt: at(3), sideEffectFailures: 2 }), t: 3, want: ['timeout', 'sigterm'] },
    // terminating: SIGTERM pending (crash before it was sent, or a kill from a web replica)
    { name: 'terminating, SIGTERM not yet sent', job: terminating(), t: 0, want: ['sigterm'] },
    { name: 'terminating kill (web replica), not sent', job: terminating({ terminateKind: 'kill', deadlineAt: at(500) }), t: 0, want: ['sigterm'] },
    { name: 'terminating, force: SIGKILL at once', job: terminating({ terminateKind: 'kill', terminateForce: true }), t: 0, want: ['sigkill'] },
    { name: 'terminating, force, SIGKILL already sent', job: terminating({ terminateForce: true, sigkillAt: at(0) }), t: 1, want: [] },
    // SIGKILL at SIGTERM + grace (10 s)
    { name: 'SIGTERM sent, inside the grace', job: terminating({ sigtermAt: at(0.2) }), t: 10.1, want: [] },
    { name: 'SIGTERM sent, at SIGTERM + grace: SIGKILL', job: terminating({ sigtermAt: at(0.2) }), t: 10.2, want: ['sigkill'] },
    { name: 'SIGTERM sent, past the grace: SIGKILL', job: terminating({ sigtermAt: at(0) }), t: 15, want: ['sigkill'] },
    { name: 'grace 0: SIGKILL on the next tick', job: terminating({ sigtermAt: at(0), gracePeriodS: 0 }), t: 0, want: ['sigkill'] },
    { name: 'SIGKILL due but backing off', job: terminating({ sigtermAt: at(0), nextAttemptAt: at(12) }), t: 11, want: [] },
    // force-remove at SIGKILL + grace (≈ deadline + 2×grace)
    { name: 'SIGKILL sent, inside the second grace', job: terminating({ sigtermAt: at(0), sigkillAt: at(10) }), t: 19.9, want: [] },
    { name: 'SIGKILL sent, at deadline + 2×grace: remove', job: terminating({ sigtermAt: at(0), sigkillAt: at(10) }), t: 20, want: ['remove'] },
    { name: 'remove due but backing off', job: terminating({ sigtermAt: at(0), sigkillAt: at(10), nextAttemptAt: at(25) }), t: 21, want: [] },
    // killed while starting: no container yet
    { name: 'terminating without a container: wait for the dispatcher', job: terminating({ containerId: null }), t: 60, want: [] },
    {
      name: 'terminating without a container for 2 min: finish',
      job: terminating({ containerId: null }),
      t: NO_CONTAINER_WAIT_MS / 1000,
      want: ['finish_no_container'],
    },
  ];

  it.each(cases)('$name', ({ job, t, want }) => {
    clock.set(at(t));
    expect(kinds(timeout.plan({ jobs: [job] }, clock.now()))).toEqual(want);
  });

  it('gives each job its own steps, in order', () => {
    const a = tjob({ id: 'a' });
    const b = terminating({ id: 'b', sigtermAt: at(-20) });
    const c = tjob({ id: 'c', deadlineAt: at(20) });
    const out = timeout.plan({ jobs: [a, b, c] }, at(1));
    expect(out.map((x) => `${x.job.id}:${x.kind}`)).toEqual(['a:timeout', 'a:sigterm', 'b:sigkill', 'c:warn']);
  });

  it.each([
    [tjob(), 'Timeout: exceeded 300s (plan free)'],
    [tjob({ timeoutSource: 'job', timeoutS: 60, startedAt: at(-60) }), 'Timeout: exceeded 60s (job request)'],
    [tjob({ timeoutSource: 'user' }), 'Timeout: exceeded 300s (user override)'],
    [tjob({ timeoutSource: 'global' }), 'Timeout: exceeded 300s (global default)'],
    // A child capped by its parent's deadline ran for less than its own timeout.
    [tjob({ timeoutSource: 'parent', timeoutS: 600, startedAt: at(-120) }), 'Timeout: exceeded 120s (parent deadline)'],
    // Extensions are part of the effective timeout.
    [tjob({ timeoutS: 360, startedAt: at(-360) }), 'Timeout: exceeded 360s (plan free)'],
    [tjob({ timeoutSource: 'class', className: 'build' }), 'Timeout: exceeded 300s (class build)'],
  ])('reason %#: %s', (job, want) => {
    const [a] = timeout.plan({ jobs: [job] }, at(0));
    expect(a).toMatchObject({ kind: 'timeout', reason: want });
  });
});

describe('timeout plan: idle timeouts', () => {
  // Idle timeout 60 s; the job started at -300 and last printed at -70: its idle deadline is -10.
  const idle = (over: Partial<timeout.TimeoutJob> = {}) =>
    tjob({ deadlineAt: at(1000), warnedAt: null, idleTimeoutS: 60, lastOutputAt: at(-70), idleDeadlineAt: at(-10), ...over });
  const cases: { name: string; job: timeout.TimeoutJob; t: number; want: string[] }[] = [
    { name: 'before the idle deadline: nothing', job: idle({ idleDeadlineAt: at(5) }), t: 4.999, want: [] },
    { name: 'at the idle deadline: probe the output', job: idle({ idleDeadlineAt: at(5) }), t: 5, want: ['idle_check'] },
    { name: 'past it: probe', job: idle(), t: 0, want: ['idle_check'] },
    { name: 'no idle timeout: never probed', job: idle({ idleTimeoutS: null, idleDeadlineAt: null }), t: 0, want: [] },
    { name: 'suspended timeout: no idle check either', job: idle({ timeoutSuspended: true }), t: 0, want: [] },
    { name: 'probe failed recently: backing off', job: idle({ nextAttemptAt: at(3) }), t: 0, want: [] },
    { name: 'backoff over: probe', job: idle({ nextAttemptAt: at(3) }), t: 3, want: ['idle_check'] },
    { name: 'the deadline passed too: the timeout, not a probe', job: idle({ deadlineAt: at(0) }), t: 0, want: ['timeout', 'sigterm'] },
    { name: 'probe and warning due together: probe first', job: idle({ deadlineAt: at(20) }), t: 0, want: ['idle_check', 'warn'] },
    { name: 'terminating: no idle check (the escalation runs)', job: idle({ status: 'terminating', terminateKind: 'timeout', terminateRequestedAt: at(-1), sigtermAt: at(-1) }), t: 0, want: [] },
  ];
  it.each(cases)('$name', ({ job, t, want }) => {
    expect(kinds(timeout.plan({ jobs: [job] }, at(t)))).toEqual(want);
  });

  // What the probe's answer means (the engine's newest log line, or none at all).
  const verdicts: { name: string; probed: number | null; last: number | null; t: number; want: { idle: true } | { idle: false; idleDeadlineAt: number } }[] = [
    { name: 'output since: active, deadline = output + 60', probed: -5, last: -70, t: 0, want: { idle: false, idleDeadlineAt: 55 } },
    { name: 'nothing new since the last probe: idle', probed: -70, last: -70, t: 0, want: { idle: true } },
    { name: 'never printed, 60 s since start: idle', probed: null, last: null, t: -240, want: { idle: true } },
    { name: 'never printed, 59 s since start: active until start + 60', probed: null, last: null, t: -241, want: { idle: false, idleDeadlineAt: -240 } },
    { name: 'output exactly 60 s ago: idle (the deadline is not in the future)', probed: -60, last: null, t: 0, want: { idle: true } },
    { name: 'an older probed time than already seen: the newer one counts', probed: -100, last: -30, t: 0, want: { idle: false, idleDeadlineAt: 30 } },
  ];
  it.each(verdicts)('verdict: $name', ({ probed, last, t, want }) => {
    const v = timeout.idleVerdict({ idleTimeoutS: 60, startedAt: at(-300), lastOutputAt: last == null ? null : at(last) }, probed == null ? null : at(probed), at(t));
    if (want.idle) expect(v).toEqual({ idle: true });
    else expect(v).toMatchObject({ idle: false, idleDeadlineAt: at(want.idleDeadlineAt) });
  });
});

describe('ttl plan', () => {
  const job = (over: Partial<ttl.TtlJob> = {}): ttl.TtlJob => ({
    id: 'j1',
    status: 'succeeded',
    attempt: 1,
    containerId: 'c1',
    node: 'n1',
    ttlExpiresAt: at(0),
    nodeStale: false,
    ...over,
  });
  const snap = (expired: ttl.TtlJob[], over: Partial<ttl.TtlSnapshot> = {}): ttl.TtlSnapshot => ({
    node: 'n1',
    expired,
    historyCutoff: at(-30 * 86400),
    purgeable: 0,
    oldRuns: 0,
    ...over,
  });

  it.each([
    { name: 'succeeded, before expiry', j: job(), t: -1, want: [] },
    { name: 'succeeded, at expiry: cleanup', j: job(), t: 0, want: ['cleanup'] },
    { name: 'failed, after expiry', j: job({ status: 'failed' }), t: 100, want: ['cleanup'] },
    { name: 'timed_out', j: job({ status: 'timed_out' }), t: 1, want: ['cleanup'] },
    { name: 'killed', j: job({ status: 'killed' }), t: 1, want: ['cleanup'] },
    { name: 'lost, no container left', j: job({ status: 'lost', containerId: null }), t: 1, want: ['mark_cleaned'] },
    { name: 'cancelled while queued (never had a container)', j: job({ status: 'cancelled', containerId: null, node: null }), t: 0, want: ['mark_cleaned'] },
    { name: "stale node's job: mark cleaned, its container is out of reach", j: job({ node: 'n2', nodeStale: true }), t: 1, want: ['mark_cleaned'] },
    { name: "live node's job: not ours", j: job({ node: 'n2', nodeStale: false }), t: 1, want: [] },
    { name: 'no expiry', j: job({ ttlExpiresAt: null }), t: 1, want: [] },
  ])('$name', ({ j, t, want }) => {
    expect(kinds(ttl.plan(snap([j]), at(t)))).toEqual(want);
  });

  it('purges history and prunes idle runs only when there is something to do', () => {
    expect(kinds(ttl.plan(snap([]), at(0)))).toEqual([]);
    expect(ttl.plan(snap([], { purgeable: 1200, oldRuns: 7 }), at(0))).toEqual([
      { kind: 'purge', before: at(-30 * 86400), rows: 1200 },
      { kind: 'prune_runs', rows: 7 },
    ]);
  });
});

describe('orphan plan', () => {
  const J1 = '22222222-2222-4222-8222-222222222222';
  const J2 = '33333333-3333-4333-8333-333333333333';
  const c = (over: Partial<orphans.OrphanContainer> & { labels?: Record<string, string> } = {}): orphans.OrphanContainer => ({
    id: 'cid1',
    name: 'warden-x',
    state: 'running',
    createdAt: at(-400),
    ...over,
    labels: { 'warden.managed': 'true', 'warden.installation': 'inst-1', 'warden.job': J1, 'warden.attempt': '1', 'warden.node': 'n1', ...over.labels },
  });
  const ref = (over: Partial<JobRef> = {}): JobRef => ({ id: J1, status: 'running', attempt: 1, cleanedAt: null, containerId: 'cid1', ...over });
  const snap = (over: Partial<orphans.OrphanSnapshot> = {}): orphans.OrphanSnapshot => ({
    node: 'n1',
    installation: 'inst-1',
    staleNodesHere: [],
    graceS: 300,
    dockerOk: true,
    containers: [],
    jobsById: {},
    liveJobs: [],
    staleJobs: [],
    children: [],
    ...over,
  });

  const containerCases: { name: string; cont: orphans.OrphanContainer; jobs: Record<string, JobRef>; t: number; want: string[] }[] = [
    { name: 'job missing, older than the grace: remove', cont: c(), jobs: {}, t: 0, want: ['remove_container'] },
    { name: 'job missing, inside the grace: keep', cont: c({ createdAt: at(-299) }), jobs: {}, t: 0, want: [] },
    { name: 'job missing, exactly at the grace: remove', cont: c({ createdAt: at(-300) }), jobs: {}, t: 0, want: ['remove_container'] },
    { name: 'live job, its own container: keep', cont: c(), jobs: { [J1]: ref() }, t: 0, want: [] },
    { name: 'job final, not cleaned yet (TTL pending): keep', cont: c(), jobs: { [J1]: ref({ status: 'succeeded' }) }, t: 0, want: [] },
    { name: 'job final and cleaned: remove', cont: c(), jobs: { [J1]: ref({ status: 'failed', cleanedAt: at(-10) }) }, t: 0, want: ['remove_container'] },
    { name: 'container of an earlier attempt: remove', cont: c(), jobs: { [J1]: ref({ attempt: 2, containerId: 'cid2' }) }, t: 0, want: ['remove_container'] },
    { name: 'second container for the same attempt: remove', cont: c(), jobs: { [J1]: ref({ containerId: 'other' }) }, t: 0, want: ['remove_container'] },
    { name: 'job label not a UUID: remove', cont: c({ labels: { 'warden.job': 'nope' } }), jobs: {}, t: 0, want: ['remove_container'] },
    { name: "another node's container: never", cont: c({ labels: { 'warden.node': 'n2' } }), jobs: {}, t: 0, want: [] },
    { name: 'not managed: never', cont: c({ labels: { 'warden.managed': 'false' } }), jobs: {}, t: 0, want: [] },
    { name: "another installation's container (same node id, same engine): never", cont: c({ labels: { 'warden.installation': 'inst-2' } }), jobs: {}, t: 0, want: [] },
    { name: 'no installation label (made before there was one): never by listing', cont: c({ labels: { 'warden.installation': '' } }), jobs: {}, t: 0, want: [] },
    { name: 'made for a lost claim, just created: remove at once (no grace)', cont: c({ createdAt: at(-1), labels: { 'warden.claim': 'c-old' } }), jobs: { [J1]: ref({ status: 'queued', containerId: null, claimId: null }) }, t: 0, want: ['remove_container'] },
    { name: 'made for the claim the job holds (start in flight): keep', cont: c({ createdAt: at(-1), labels: { 'warden.claim': 'c-now' } }), jobs: { [J1]: ref({ status: 'starting', containerId: null, claimId: 'c-now' }) }, t: 0, want: [] },
    { name: 'recorded container of a claim: keep', cont: c({ labels: { 'warden.claim': 'c-now' } }), jobs: { [J1]: ref({ claimId: 'c-now' }) }, t: 0, want: [] },
    { name: 'being removed already', cont: c({ state: 'removing' }), jobs: {}, t: 0, want: [] },
    { name: 'never started, its attempt requeued (engine trouble): kept for the next claim to start', cont: c({ state: 'created', createdAt: at(-400), labels: { 'warden.claim': 'c-old' } }), jobs: { [J1]: ref({ status: 'queued', containerId: null, claimId: null }) }, t: 0, want: [] },
    { name: 'never started, its attempt claimed again: kept (that start takes it over)', cont: c({ state: 'created', labels: { 'warden.claim': 'c-old' } }), jobs: { [J1]: ref({ status: 'starting', containerId: null, claimId: 'c-new' }) }, t: 0, want: [] },
    { name: 'never started, its job ended (not cleaned): a lost claim, removed at once', cont: c({ state: 'created', labels: { 'warden.claim': 'c-old' } }), jobs: { [J1]: ref({ status: 'failed', containerId: null, claimId: null }) }, t: 0, want: ['remove_container'] },
    { name: 'never started, its job runs in another: remove', cont: c({ state: 'created' }), jobs: { [J1]: ref({ containerId: 'other' }) }, t: 0, want: ['remove_container'] },
  ];
  it.each(containerCases)('$name', ({ cont, jobs, t, want }) => {
    const s = snap({ containers: [cont], jobsById: jobs });
    expect(kinds(orphans.plan(s, at(t)))).toEqual(want);
  });

  it('a container the snapshot found recorded by its job is never judged (its job row is not even read)', () => {
    expect(kinds(orphans.plan(snap({ containers: [c()], jobsById: {}, recorded: new Set(['cid1']) }), at(0)))).toEqual([]);
    // Without the mark, the same container with no job row read is an orphan: the mark is what keeps it.
    expect(kinds(orphans.plan(snap({ containers: [c()], jobsById: {} }), at(0)))).toEqual(['remove_container']);
  });

  const live = (over: Partial<orphans.LiveJob> = {}): orphans.LiveJob => ({
    id: J1,
    userId: 'u',
    name: null,
    status: 'running',
    attempt: 1,
    maxRetries: 1,
    containerId: 'cid1',
    node: 'n1',
    ...over,
  });

  it('a live job whose container is not listed is lost (to be confirmed by inspect)', () => {
    const out = orphans.plan(snap({ liveJobs: [live()], containers: [] }), at(0));
    expect(out).toEqual([{ kind: 'lost', job: live(), reason: 'container cid1 was removed by someone other than Warden', confirm: true }]);
    // Listed (even exited): completion's business, not lost.
    expect(orphans.plan(snap({ liveJobs: [live()], containers: [c({ state: 'exited' })], jobsById: { [J1]: ref() } }), at(0))).toEqual([]);
    // Docker unreachable: no verdict about containers at all.
    expect(orphans.plan(snap({ dockerOk: false, liveJobs: [live()], containers: [] }), at(0))).toEqual([]);
  });

  it('jobs of a stale node are lost without a Docker check; our own node never is', () => {
    const stale = live({ id: J2, node: 'n2', heartbeatAt: at(-120) });
    const out = orphans.plan(snap({ staleJobs: [stale, live({ node: 'n1' })] }), at(0));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'lost', confirm: false, reason: `node n2 is unreachable (last heartbeat ${at(-120).toISOString()})` });
  });

  it("a stale node's containers on this engine: its live job is adopted (not declared lost), its orphans reaped; a live node's are left alone", () => {
    const J3 = '44444444-4444-4444-8444-444444444444';
    const stale = live({ id: J2, node: 'old', containerId: 'cidA', heartbeatAt: at(-120) });
    const elsewhere = live({ id: J3, node: 'old', containerId: 'cidB', heartbeatAt: at(-120) });
    const mine = c({ id: 'cidA', labels: { 'warden.job': J2, 'warden.node': 'old' } });
    const orphan = c({ id: 'cidO', labels: { 'warden.job': '55555555-5555-4555-8555-555555555555', 'warden.node': 'old' } });
    const liveNodes = c({ id: 'cidL', labels: { 'warden.job': '66666666-6666-4666-8666-666666666666', 'warden.node': 'busy' } });
    const out = orphans.plan(
      snap({ staleNodesHere: ['old'], staleJobs: [stale, elsewhere], containers: [mine, orphan, liveNodes], jobsById: {}, recorded: new Set(['cidA']) }),
      at(0),
    );
    expect(out.map((a) => [a.kind, a.kind === 'lost' || a.kind === 'adopt' ? a.job.id : a.kind === 'remove_container' ? a.container.id : ''])).toEqual([
      ['adopt', J2],
      ['remove_container', 'cidO'],
      // Its container is not on this engine: lost as before.
      ['lost', J3],
    ]);
  });

  it('live children of ended or missing parents are stopped, grouped by parent', () => {
    const out = orphans.plan(
      snap({
        children: [
          { id: 'k1', status: 'running', parentId: 'p1', parentStatus: 'failed' },
          { id: 'k2', status: 'queued', parentId: 'p1', parentStatus: 'failed' },
          { id: 'k3', status: 'running', parentId: 'p2', parentStatus: null },
          { id: 'k4', status: 'running', parentId: 'p3', parentStatus: 'running' },
        ],
      }),
      at(0),
    );
    expect(out).toEqual([
      { kind: 'stop_children', parentId: 'p1', parentStatus: 'failed', childIds: ['k1', 'k2'] },
      { kind: 'stop_children', parentId: 'p2', parentStatus: null, childIds: ['k3'] },
    ]);
  });
});

describe('helpers', () => {
  it('backoff doubles from 1 s and caps at 60 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });
  it('cron expressions for the sweep periods', () => {
    expect(cronExpression(1)).toBe('* * * * * *');
    expect(cronExpression(30)).toBe('*/30 * * * * *');
    expect(cronExpression(60)).toBe('0 */1 * * * *');
    expect(cronExpression(300)).toBe('0 */5 * * * *');
    expect(cronExpression(7200)).toBe('0 0 */2 * * *');
  });
});
