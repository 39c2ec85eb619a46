import { desc, eq, inArray, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { auditEvents, jobs, users } from '../db/schema';
import { type Actor, requireRole } from '../domain/actor';
import { invalid } from '../domain/errors';
import { auditToJson, listAudit } from '../domain/audit-queries';
import { getClassByName } from '../domain/classes';
import { getJob, getJobLogs, jobsToJson } from '../domain/jobs';
import { effectiveLimits, monthKey } from '../domain/limits';
import { listNodes, nodeRefs } from '../domain/nodes';
import { keyToJson, listKeys, type KeyOwner } from '../domain/keys';
import { listOperators, operatorToJson } from '../domain/operators';
import { listPlans, planToJson } from '../domain/plans';
import { SWEEPER_NAMES, sweeperStatus } from '../domain/sweeper-settings';
import { getUserWithPlan, listUsersWithStats } from '../domain/users';
import { deliveryCounts, listAttempts, listDeliveries, listWebhooks, webhookToJson } from '../domain/webhooks';
import { isUuid } from '../domain/schemas';
import { RUNNING_STATUSES } from '../domain/status';
import { healthReport } from '../health';
import { listOrphans } from '../sweepers/orphans';
import { jobListQuerySchema, listJobsForTab } from './job-lists';
import { jobsCsvStream } from './jobs-csv';
import { cachedActivity } from './concurrency';
import { cachedDaySummary, cachedDockerPing, nearingDeadline, recentTimeoutsAndKills, stateCounts, sweeperHealth } from './overview';

/**
 * One loader per dashboard view. The page renders its first paint from the loader and the
 * matching /api/ui/* route serves the same loader as JSON for TanStack Query polling, so both
 * always agree. Every loader checks the role itself (the domain functions check again).
 */

export async function loadOverview(ctx: Ctx, actor: Actor) {
  requireRole(actor, 'viewer');
  const now = ctx.clock.now();
  const [live, nearing, recent, day, sweepers, docker, workers, activity] = await Promise.all([
    stateCounts(ctx.db),
    nearingDeadline(ctx.db),
    recentTimeoutsAndKills(ctx.db, now),
    cachedDaySummary(ctx.db, now),
    sweeperHealth(ctx.db, SWEEPER_NAMES, now),
    cachedDockerPing(ctx.docker),
    listNodes(ctx.db, now, 20),
    cachedActivity(ctx.db, now),
  ]);
  return {
    generatedAt: now.toISOString(),
    counts: { live: live.live, totalEstimate: live.totalEstimate, last24h: day.last24h, last24hAt: day.computedAt },
    nearing,
    recent,
    series: day.series,
    activity,
    sweepers,
    docker,
    workers,
  };
}
export type OverviewData = Awaited<ReturnType<typeof loadOverview>>;

export async function loadJobs(ctx: Ctx, actor: Actor, raw: Record<string, string | undefined>) {
  requireRole(actor, 'viewer');
  const q = jobListQuerySchema.parse(raw);
  const result = await listJobsForTab(ctx.db, q, ctx.clock.now());
  return { ...result, filters: { q: q.q ?? '', user: q.user ?? '', status: q.status ?? '', warned: !!q.warned } };
}
export type JobsData = Awaited<ReturnType<typeof loadJobs>>;

/** The Jobs tab's current filter (same query string as loadJobs; page and limit ignored) as a streamed CSV. */
export function exportJobsCsv(ctx: Ctx, actor: Actor, raw: Record<string, string | undefined>): Response {
  requireRole(actor, 'viewer');
  const q = jobListQuerySchema.parse(raw);
  const day = ctx.clock.now().toISOString().slice(0, 10);
  return new Response(jobsCsvStream(ctx.db, q), {
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="warden-jobs-${q.tab}-${day}.csv"`,
      'cache-control': 'no-store',
    },
  });
}

/** A job with its limits (and which rule set each), its user and plan, and its audit timeline. */
export async function loadJobDetail(ctx: Ctx, actor: Actor, id: string) {
  const job = await getJob(ctx, actor, id);
  const [up, cls, timeline, children, [jobJson], nodeRef] = await Promise.all([
    getUserWithPlan(ctx.db, job.userId),
    job.className ? getClassByName(ctx.db, job.className) : null,
    listAudit(ctx, actor, { job: id, limit: '200' }),
    ctx.db
      .select({ id: jobs.id, name: jobs.name, status: jobs.status })
      .from(jobs)
      .where(eq(jobs.parentId, id))
      .orderBy(desc(jobs.queuedAt))
      .limit(20),
    jobsToJson(ctx.db, [job]),
    // The node by its name for people (host name plus short engine id), the id for the tooltip.
    nodeRefs(ctx.db, [job.node]),
  ]);
  const limits = up ? effectiveLimits(up.plan, up.user, cls) : null;
  return {
    generatedAt: ctx.clock.now().toISOString(),
    job: { ...jobJson!, requestedTimeoutSeconds: job.requestedTimeoutS, terminateReason: job.terminateReason, terminateKind: job.terminateKind, sigtermAt: job.sigtermAt?.toISOString() ?? null, sigkillAt: job.sigkillAt?.toISOString() ?? null, ttlExpiresAt: job.ttlExpiresAt?.toISOString() ?? null, env: Object.keys(job.env ?? {}) },
    user: up ? { id: up.user.id, name: up.user.name } : null,
    node: nodeRef(job.node),
    plan: up ? planToJson(up.plan) : null,
    limits: limits && {
      maxTimeoutSeconds: limits.maxTimeoutS,
      maxTimeoutFrom: limits.maxTimeoutFrom,
      defaultTimeoutSeconds: limits.defaultTimeoutS,
      defaultTimeoutFrom: limits.defaultTimeoutFrom,
      maxConcurrentJobs: limits.maxConcurrentJobs,
      gracePeriodSeconds: limits.gracePeriodS,
      warnBeforeSeconds: limits.warnBeforeS,
      maxRetries: limits.maxRetries,
    },
    children,
    timeline: timeline.events.map(auditToJson).reverse(),
  };
}
export type JobDetailData = Awaited<ReturnType<typeof loadJobDetail>>;

export async function loadJobLogs(ctx: Ctx, actor: Actor, id: string) {
  const text = await getJobLogs(ctx, actor, id);
  return { text, generatedAt: ctx.clock.now().toISOString() };
}

export interface UsersQuery {
  q?: string;
  after?: string;
}

/** Users (by name, 200 a page) with running vs limit, queued, and usage this month vs quota. */
export async function loadUsers(ctx: Ctx, actor: Actor, raw: Record<string, string | undefined>) {
  requireRole(actor, 'viewer');
  const now = ctx.clock.now();
  const month = monthKey(now);
  const q = (raw.q ?? '').trim().slice(0, 100);
  const after = (raw.after ?? '').slice(0, 100);
  const limit = 200;
  const rows = await listUsersWithStats(ctx.db, now, { q: q || undefined, afterName: after || undefined, limit: limit + 1 });
  const page = rows.slice(0, limit);
  const planRows = await listPlans(ctx.db);
  return {
    generatedAt: now.toISOString(),
    month,
    plans: planRows.map((p) => p.name),
    users: page.map((r) => {
      const l = effectiveLimits(r.plan, r.user);
      return {
        id: r.user.id,
        name: r.user.name,
        plan: r.plan.name,
        running: Number(r.running),
        queued: Number(r.queued),
        usageSeconds: Number(r.usageSeconds),
        limits: { maxConcurrentJobs: l.maxConcurrentJobs, maxQueuedJobs: l.maxQueuedJobs, maxTimeoutSeconds: l.maxTimeoutS, defaultTimeoutSeconds: l.defaultTimeoutS, monthlyQuotaSeconds: l.monthlyQuotaS },
        overrides: {
          defaultTimeoutSeconds: r.user.defaultTimeoutS,
          maxTimeoutSeconds: r.user.maxTimeoutS,
          maxConcurrentJobs: r.user.maxConcurrentJobs,
          maxQueuedJobs: r.user.maxQueuedJobs,
          monthlyQuotaSeconds: r.user.monthlyQuotaS,
        },
        createdAt: r.user.createdAt.toISOString(),
      };
    }),
    nextAfter: rows.length > limit ? page[page.length - 1]!.user.name : null,
  };
}
export type UsersData = Awaited<ReturnType<typeof loadUsers>>;

export async function loadPlans(ctx: Ctx, actor: Actor) {
  requireRole(actor, 'viewer');
  const [rows, counts, live] = await Promise.all([
    listPlans(ctx.db),
    ctx.db.select({ planId: users.planId, n: sql<number>`count(*)::int` }).from(users).groupBy(users.planId),
    // Running jobs per plan: a group-by over the live statuses only (the partial index), once per view.
    ctx.db
      .select({ planId: users.planId, n: sql<number>`count(*)::int` })
      .from(jobs)
      .innerJoin(users, eq(users.id, jobs.userId))
      .where(inArray(jobs.status, [...RUNNING_STATUSES]))
      .groupBy(users.planId),
  ]);
  const byPlan = new Map(counts.map((c) => [c.planId, Number(c.n)]));
  const runningByPlan = new Map(live.map((c) => [c.planId, Number(c.n)]));
  return {
    generatedAt: ctx.clock.now().toISOString(),
    plans: rows.map((p) => ({ ...planToJson(p), users: byPlan.get(p.id) ?? 0, running: runningByPlan.get(p.id) ?? 0 })),
  };
}
export type PlansData = Awaited<ReturnType<typeof loadPlans>>;

export async function loadOrphans(ctx: Ctx, actor: Actor) {
  const r = await listOrphans(ctx, actor);
  const nodeRef = await nodeRefs(ctx.db, r.lostJobs.map((j) => j.node));
  return { generatedAt: ctx.clock.now().toISOString(), ...r, lostJobs: r.lostJobs.map((j) => ({ ...j, node: nodeRef(j.node) })) };
}
export type OrphansData = Awaited<ReturnType<typeof loadOrphans>>;

export async function loadAudit(ctx: Ctx, actor: Actor, raw: Record<string, string | undefined>) {
  const q: Record<string, string | undefined> = {};
  for (const k of ['actor', 'action', 'job', 'jobName', 'q', 'cursor', 'targetType'] as const) if (raw[k]?.trim()) q[k] = raw[k]!.trim();
  q.limit = '100';
  const r = await listAudit(ctx, actor, q);
  // The pickers: actions and actors seen in the newest 2,000 events (bounded, index-only on the pk).
  const [actions, actors] = await Promise.all([
    ctx.db.execute<{ action: string }>(sql`
      select distinct action from (select action from ${auditEvents} order by id desc limit 2000) x order by action`),
    ctx.db.execute<{ actor: string }>(sql`
      select distinct actor from (select actor from ${auditEvents} order by id desc limit 2000) x order by actor`),
  ]);
  return {
    generatedAt: ctx.clock.now().toISOString(),
    events: r.events.map(auditToJson),
    nextCursor: r.nextCursor,
    knownActions: actions.map((a) => a.action),
    knownActors: actors.map((a) => a.actor),
  };
}
export type AuditData = Awaited<ReturnType<typeof loadAudit>>;

export async function loadSweepers(ctx: Ctx, actor: Actor) {
  requireRole(actor, 'viewer');
  const s = await sweeperStatus(ctx);
  const nodeRef = await nodeRefs(ctx.db, s.flatMap((x) => x.lastRuns.map((r) => r.node)));
  return {
    generatedAt: ctx.clock.now().toISOString(),
    sweepers: s.map((x) => ({
      name: x.name,
      everySeconds: x.everySeconds,
      dryRun: x.dryRun,
      dryRunSource: x.dryRunSource,
      lastRuns: x.lastRuns.map((r) => ({
        id: r.id,
        node: nodeRef(r.node),
        startedAt: r.startedAt.toISOString(),
        finishedAt: r.finishedAt?.toISOString() ?? null,
        examined: r.examined,
        acted: r.acted,
        errors: r.errors,
        dryRun: r.dryRun,
        error: r.error,
      })),
    })),
  };
}
export type SweepersData = Awaited<ReturnType<typeof loadSweepers>>;

export async function loadOperators(ctx: Ctx, actor: Actor) {
  const ops = await listOperators(ctx, actor);
  return { generatedAt: ctx.clock.now().toISOString(), operators: ops.map(operatorToJson), me: actor.kind === 'operator' ? actor.id : null };
}
export type OperatorsData = Awaited<ReturnType<typeof loadOperators>>;

/**
 * Webhook subscriptions with delivery counts by status, and the latest deliveries (status, attempts,
 * last error) of the selected one (`?webhook=<id>`, else the newest subscription).
 */
export async function loadWebhooks(ctx: Ctx, actor: Actor, raw: Record<string, string | undefined> = {}) {
  requireRole(actor, 'viewer');
  const list = await listWebhooks(ctx, actor);
  const ids = list.map((w) => w.id);
  const scoped = [...new Set(list.map((w) => w.userId).filter((u): u is string => !!u))];
  const [byHook, names] = await Promise.all([
    deliveryCounts(ctx.db, ids),
    scoped.length ? ctx.db.select({ id: users.id, name: users.name }).from(users).where(inArray(users.id, scoped)) : Promise.resolve([]),
  ]);
  const nameOf = new Map(names.map((n) => [n.id, n.name]));
  const wanted = raw.webhook && isUuid(raw.webhook) && ids.includes(raw.webhook) ? raw.webhook : (ids[0] ?? null);
  const status = raw.status === 'pending' || raw.status === 'delivered' || raw.status === 'failed' ? raw.status : undefined;
  const [deliveries, attempts] = wanted
    ? await Promise.all([
        listDeliveries(ctx, actor, wanted, { limit: '100', ...(status ? { status } : {}) }).then((r) => r.deliveries),
        listAttempts(ctx, actor, wanted, { limit: '50' }).then((r) => r.attempts),
      ])
    : [[], []];
  return {
    generatedAt: ctx.clock.now().toISOString(),
    webhooks: list.map((w) => {
      const c = byHook.get(w.id) ?? {};
      return { ...webhookToJson(w), userName: w.userId ? (nameOf.get(w.userId) ?? null) : null, counts: { pending: c.pending ?? 0, delivered: c.delivered ?? 0, failed: c.failed ?? 0 } };
    }),
    selected: wanted,
    status: status ?? null,
    deliveries,
    attempts,
  };
}
export type WebhooksData = Awaited<ReturnType<typeof loadWebhooks>>;

/** One owner's API keys (admin): `?user=<id>` or `?operator=<id>`. */
export async function loadKeys(ctx: Ctx, actor: Actor, raw: Record<string, string | undefined>) {
  requireRole(actor, 'admin');
  const owner: KeyOwner | null = raw.user ? { kind: 'user', id: raw.user } : raw.operator ? { kind: 'operator', id: raw.operator } : null;
  if (!owner) throw invalid('Pass ?user=<id> or ?operator=<id>', 'user');
  const keys = await listKeys(ctx, actor, owner);
  return { generatedAt: ctx.clock.now().toISOString(), keys: keys.map(keyToJson) };
}
export type KeysData = Awaited<ReturnType<typeof loadKeys>>;

/** Docker and database state for the banner (from the shared health report). */
export async function loadHealthBanner(actor: Actor) {
  requireRole(actor, 'viewer');
  const h = await healthReport();
  return { status: h.status, docker: { ok: h.docker.ok, error: h.docker.error ?? null }, db: { ok: h.db.ok } };
}

