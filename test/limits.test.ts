import { describe, expect, it } from 'vitest';
import type { Plan } from '../server/db/schema';
import { effectiveLimits, effectiveTimeout, GLOBAL_DEFAULT_TIMEOUT_S, ttlFor, type TimeoutInput } from '../server/domain/limits';
import { DEFAULT_PLANS } from '../server/domain/plans';
import { planClaims } from '../server/worker/dispatcher';

/**
 * Pure limit rules, table-driven (no database, no Docker): effective timeout precedence
 * (job > user override > plan default > global 300 s), the cap (user override max, else plan max)
 * that rejects — never clamps — a request, and the dispatcher's per-user claim plan.
 */

const base: TimeoutInput = { planName: 'free' };

describe('effectiveTimeout: precedence', () => {
  const cases: { name: string; in: Partial<TimeoutInput>; seconds: number; source: string }[] = [
    { name: 'nothing set → global 300 s', in: {}, seconds: GLOBAL_DEFAULT_TIMEOUT_S, source: 'global' },
    { name: 'plan default only', in: { planDefault: 120 }, seconds: 120, source: 'plan' },
    { name: 'user override beats plan default', in: { planDefault: 120, userDefault: 60 }, seconds: 60, source: 'user' },
    { name: 'job request beats user and plan', in: { planDefault: 120, userDefault: 60, requested: 30 }, seconds: 30, source: 'job' },
    { name: 'job request may be above the defaults (below the cap)', in: { planDefault: 120, userDefault: 60, requested: 500, planMax: 900 }, seconds: 500, source: 'job' },
    { name: 'user default without plan default', in: { userDefault: 45 }, seconds: 45, source: 'user' },
    { name: 'null values fall through like undefined', in: { requested: null, userDefault: null, planDefault: 200 }, seconds: 200, source: 'plan' },
    { name: 'request exactly at the plan cap is allowed', in: { requested: 900, planMax: 900 }, seconds: 900, source: 'job' },
    { name: 'request exactly at the user cap is allowed', in: { requested: 50, userMax: 50, planMax: 900 }, seconds: 50, source: 'job' },
    { name: 'user cap above plan cap lets a request through', in: { requested: 1800, userMax: 3600, planMax: 900 }, seconds: 1800, source: 'job' },
    { name: 'request of 1 s', in: { requested: 1, planMax: 900 }, seconds: 1, source: 'job' },
    // A misconfigured inherited default above the cap is held to the cap (not a request: not rejected).
    { name: 'inherited plan default above the cap is held to it', in: { planDefault: 1000, planMax: 900 }, seconds: 900, source: 'plan' },
    { name: 'global default above the user cap is held to it', in: { userMax: 100 }, seconds: 100, source: 'global' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = effectiveTimeout({ ...base, ...c.in });
      expect(r).toMatchObject({ ok: true, seconds: c.seconds, source: c.source });
    });
  }
});

describe('effectiveTimeout: a request above the cap is rejected, naming the cap', () => {
  const cases: { name: string; in: Partial<TimeoutInput>; cap: number; capSource: "user" | "plan"; msg: RegExp }[] = [
    { name: 'plan cap', in: { requested: 901, planMax: 900 }, cap: 900, capSource: 'plan', msg: /timeoutSeconds 901 exceeds the maximum of 900s allowed by plan free/ },
    { name: 'user cap below the plan cap wins', in: { requested: 600, userMax: 500, planMax: 900 }, cap: 500, capSource: 'user', msg: /maximum of 500s allowed by your per-user limit/ },
    { name: 'user cap above the plan cap still caps', in: { requested: 4000, userMax: 3600, planMax: 900 }, cap: 3600, capSource: 'user', msg: /maximum of 3600s/ },
    { name: 'huge request', in: { requested: 2_000_000_000, planMax: 900 }, cap: 900, capSource: 'plan', msg: /exceeds the maximum of 900s/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = effectiveTimeout({ ...base, ...c.in });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.cap).toBe(c.cap);
      expect(r.capSource).toBe(c.capSource);
      expect(r.message).toMatch(c.msg);
    });
  }
  it('no cap at all: any request is taken as is', () => {
    expect(effectiveTimeout({ ...base, requested: 10_000_000 })).toMatchObject({ ok: true, seconds: 10_000_000, cap: null });
  });
});

const plan = (over: Partial<Plan> = {}): Plan =>
  ({ ...DEFAULT_PLANS[0], id: 1, createdAt: new Date(0), updatedAt: new Date(0), ...over }) as Plan;
const noOverrides = { defaultTimeoutS: null, maxTimeoutS: null, maxConcurrentJobs: null, maxQueuedJobs: null, monthlyQuotaS: null };

describe('effectiveLimits: each user override replaces the plan value', () => {
  it('no overrides: the plan', () => {
    const l = effectiveLimits(plan(), noOverrides);
    expect(l).toMatchObject({ planName: 'free', defaultTimeoutS: 300, defaultTimeoutFrom: 'plan', maxTimeoutS: 900, maxTimeoutFrom: 'plan', maxConcurrentJobs: 2, maxQueuedJobs: 20, monthlyQuotaS: 36000 });
  });
  it('every override', () => {
    const l = effectiveLimits(plan(), { defaultTimeoutS: 10, maxTimeoutS: 20, maxConcurrentJobs: 7, maxQueuedJobs: 8, monthlyQuotaS: 99 });
    expect(l).toMatchObject({ defaultTimeoutS: 10, defaultTimeoutFrom: 'user', maxTimeoutS: 20, maxTimeoutFrom: 'user', maxConcurrentJobs: 7, maxQueuedJobs: 8, monthlyQuotaS: 99 });
  });
  it('an override of 0 is an override, not "unset"', () => {
    const l = effectiveLimits(plan(), { ...noOverrides, maxConcurrentJobs: 0, maxQueuedJobs: 0 });
    expect(l.maxConcurrentJobs).toBe(0);
    expect(l.maxQueuedJobs).toBe(0);
  });
});

describe('ttlFor', () => {
  const p = plan({ ttlSucceededS: 1, ttlFailedS: 2, ttlTimedOutS: 3, ttlKilledS: 4, ttlLostS: 5 });
  it.each([
    ['succeeded', 1],
    ['failed', 2],
    ['timed_out', 3],
    ['killed', 4],
    ['lost', 5],
  ])('%s → plan value', (status, want) => expect(ttlFor(p, status, null)).toBe(want));
  it("the job's own TTL wins, even 0", () => {
    expect(ttlFor(p, 'succeeded', 0)).toBe(0);
    expect(ttlFor(p, 'failed', 77)).toBe(77);
  });
});

describe('planClaims (pure)', () => {
  const c = (userId: string, limit: number, active: number, quota: number | null = null, used = 0) => ({ userId, limit, active, quota, used });
  const cases: { name: string; cands: ReturnType<typeof c>[]; perUser: number; want: { userId: string; take: number }[] }[] = [
    { name: 'free slots, one per user per round', cands: [c('a', 2, 0), c('b', 2, 1)], perUser: 1, want: [{ userId: 'a', take: 1 }, { userId: 'b', take: 1 }] },
    { name: 'perUser bounded by free slots', cands: [c('a', 2, 0), c('b', 5, 1)], perUser: 3, want: [{ userId: 'a', take: 2 }, { userId: 'b', take: 3 }] },
    { name: 'at the limit: skipped', cands: [c('a', 2, 2)], perUser: 1, want: [] },
    { name: 'over the limit (plan lowered): skipped, never negative', cands: [c('a', 1, 3)], perUser: 5, want: [] },
    { name: 'limit 0 (paused): skipped', cands: [c('a', 0, 0)], perUser: 1, want: [] },
    { name: 'quota used up: skipped', cands: [c('a', 2, 0, 100, 100), c('b', 2, 0, 100, 99)], perUser: 1, want: [{ userId: 'b', take: 1 }] },
    { name: 'order kept (least-recently-served first)', cands: [c('z', 1, 0), c('a', 1, 0)], perUser: 1, want: [{ userId: 'z', take: 1 }, { userId: 'a', take: 1 }] },
  ];
  for (const t of cases) it(t.name, () => expect(planClaims(t.cands, t.perUser)).toEqual(t.want));
});

/**
 * Job classes in the precedence: job request → class default → user override → plan → 300 s;
 * the cap is the user override max, else the plan max, lowered (never raised) by the class max.
 */
describe('effectiveTimeout with a job class: precedence and cap', () => {
  const build = { className: 'build', classDefault: 600 };
  const cases: { name: string; in: Partial<TimeoutInput>; want: { ok: true; seconds: number; source: string; cap: number | null } | { ok: false; field: string; cap: number; capSource: string; msg: RegExp } }[] = [
    { name: 'class default beats user and plan defaults', in: { ...build, userDefault: 60, planDefault: 120, planMax: 900 }, want: { ok: true, seconds: 600, source: 'class', cap: 900 } },
    { name: 'job request beats the class default', in: { ...build, requested: 30, userDefault: 60, planDefault: 120, planMax: 900 }, want: { ok: true, seconds: 30, source: 'job', cap: 900 } },
    { name: 'no class: user override as before', in: { userDefault: 60, planDefault: 120, planMax: 900 }, want: { ok: true, seconds: 60, source: 'user', cap: 900 } },
    { name: 'class max lowers the cap for a request', in: { ...build, classMax: 700, requested: 800, planMax: 900 }, want: { ok: false, field: 'timeoutSeconds', cap: 700, capSource: 'class', msg: /timeoutSeconds 800 exceeds the maximum of 700s allowed by class build/ } },
    { name: 'request at the class max is allowed', in: { ...build, classMax: 700, requested: 700, planMax: 900 }, want: { ok: true, seconds: 700, source: 'job', cap: 700 } },
    { name: 'class max above the plan cap does not lift it', in: { ...build, classMax: 5000, requested: 1000, planMax: 900 }, want: { ok: false, field: 'timeoutSeconds', cap: 900, capSource: 'plan', msg: /exceeds the maximum of 900s allowed by plan free/ } },
    { name: 'class max above a user cap does not lift it', in: { ...build, classMax: 5000, requested: 2000, userMax: 1800, planMax: 900 }, want: { ok: false, field: 'timeoutSeconds', cap: 1800, capSource: 'user', msg: /maximum of 1800s allowed by your per-user limit/ } },
    { name: 'user cap above the plan cap lets a class default through', in: { className: 'nightly', classDefault: 1500, userMax: 1800, planMax: 900 }, want: { ok: true, seconds: 1500, source: 'class', cap: 1800 } },
    // A class default above the cap is refused when used, naming both the class and the cap.
    { name: 'class default above the plan cap: refused naming both', in: { className: 'nightly', classDefault: 3600, planMax: 900 }, want: { ok: false, field: 'class', cap: 900, capSource: 'plan', msg: /class nightly has a default timeout of 3600s, above the maximum of 900s allowed by plan free/ } },
    { name: 'class default above a user cap: refused naming both', in: { className: 'nightly', classDefault: 600, userMax: 300, planMax: 900 }, want: { ok: false, field: 'class', cap: 300, capSource: 'user', msg: /class nightly .* 600s, above the maximum of 300s allowed by your per-user limit/ } },
    { name: 'a request under the cap rescues a class whose default is too high', in: { className: 'nightly', classDefault: 3600, requested: 600, planMax: 900 }, want: { ok: true, seconds: 600, source: 'job', cap: 900 } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = effectiveTimeout({ ...base, ...c.in });
      if (c.want.ok) expect(r).toMatchObject(c.want);
      else {
        expect(r).toMatchObject({ ok: false, field: c.want.field, cap: c.want.cap, capSource: c.want.capSource });
        if (!r.ok) expect(r.message).toMatch(c.want.msg);
      }
    });
  }
});

describe('effectiveLimits and ttlFor with a job class', () => {
  const cls = {
    name: 'build',
    defaultTimeoutS: 600,
    maxTimeoutS: 700,
    gracePeriodS: 3,
    warnBeforeS: null,
    idleTimeoutS: 60,
    resultsPath: '/out',
    ttlSucceededS: 11,
    ttlFailedS: null,
    ttlTimedOutS: 33,
    ttlKilledS: null,
    ttlLostS: null,
  };
  it('class fields replace the plan\'s; NULL ones fall through; its max only lowers the cap', () => {
    const l = effectiveLimits(plan({ warnBeforeS: 30, idleTimeoutS: 120, resultsPath: '/plan-out' }), noOverrides, cls);
    expect(l).toMatchObject({ className: 'build', defaultTimeoutS: 600, defaultTimeoutFrom: 'class', maxTimeoutS: 700, maxTimeoutFrom: 'class', gracePeriodS: 3, warnBeforeS: 30, idleTimeoutS: 60, resultsPath: '/out', maxResultsMb: 50 });
    expect(effectiveLimits(plan(), noOverrides, { ...cls, maxTimeoutS: 5000 })).toMatchObject({ maxTimeoutS: 900, maxTimeoutFrom: 'plan' });
    expect(effectiveLimits(plan({ idleTimeoutS: 120 }), noOverrides, { ...cls, idleTimeoutS: null, resultsPath: null })).toMatchObject({ idleTimeoutS: 120, resultsPath: null });
  });
  const p = plan({ ttlSucceededS: 1, ttlFailedS: 2, ttlTimedOutS: 3, ttlKilledS: 4, ttlLostS: 5 });
  it.each([
    ['succeeded', 11],
    ['failed', 2],
    ['timed_out', 33],
    ['killed', 4],
    ['lost', 5],
  ])('ttl %s → class value, else the plan\'s', (status, want) => expect(ttlFor(p, status, null, cls)).toBe(want));
  it("the job's own TTL still wins over the class", () => expect(ttlFor(p, 'succeeded', 7, cls)).toBe(7));
});
