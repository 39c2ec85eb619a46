import crypto from 'node:crypto';
import { and, count, desc, eq, getTableColumns, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { config } from '../config';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobs, operators, users, webhookAttempts, webhookDeliveries, webhookEvents, webhooks, type Job, type Webhook, type WebhookAttempt, type WebhookDelivery, type WebhookEvent } from '../db/schema';
import { type Actor, actorLabel, hasRole, requireRole } from './actor';
import { audit } from './audit';
import { AppError, forbidden, invalid, notFound, parseInput } from './errors';
import { jobToJson } from './jobs';
import { WEBHOOK_RETRY_WINDOW_MS } from './outbox';
import { createWebhookSchema, isUuid, listAttemptsQuerySchema, listDeliveriesQuerySchema, type DeliveryStatus } from './schemas';
import { WEBHOOK_EVENTS, WEBHOOK_TEST_EVENT, type DeliveryEventType, type WebhookEventType } from './webhook-events';
import { checkWebhookUrl, type Resolver } from './webhook-url';

/**
 * Webhook subscriptions and their deliveries: create, list, delete, redeliver, and what a
 * delivery sends (body and signature). Events are written by the outbox (domain/outbox.ts) and
 * sent by the worker (server/worker/webhooks.ts).
 *
 * Who may do what: a user key owns the subscriptions it made (its own jobs only) and sees only
 * those; operator keys and sessions see every subscription (viewer) and create or delete any
 * (operator), for every job or one user's (`userId`). Someone else's subscription is a 404.
 */

/** A user may keep this many subscriptions (an operator this many per operator). */
export const MAX_WEBHOOKS_PER_OWNER = 25;

export function webhookToJson(w: Webhook) {
  return {
    id: w.id,
    url: w.url,
    events: w.events as WebhookEventType[],
    userId: w.userId,
    createdBy: w.createdBy,
    createdAt: w.createdAt.toISOString(),
  };
}
export type WebhookJson = ReturnType<typeof webhookToJson>;

export function deliveryToJson(d: WebhookDelivery, e: Pick<WebhookEvent, 'id' | 'type' | 'at'>) {
  return {
    id: d.id,
    event: e.type as DeliveryEventType,
    eventId: e.id,
    eventAt: e.at.toISOString(),
    jobId: d.jobId,
    status: d.status as DeliveryStatus,
    attempts: d.attempts,
    lastError: d.lastError,
    lastStatus: d.lastStatus,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt.toISOString() : null,
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
    createdAt: d.createdAt.toISOString(),
  };
}
export type DeliveryJson = ReturnType<typeof deliveryToJson>;

/** A secret as Warden makes them: 32 random bytes, prefixed so it is recognisable in a config file. */
export function newWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64url')}`;
}

/** `Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` */
export function signatureHeader(secret: string, body: string, t: number): string {
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

const JOB_COLUMNS = Object.entries(getTableColumns(jobs));

/** The outbox's to_jsonb(jobs row) back to a Job: column names to keys, ISO strings to Dates. */
export function snapshotToJob(snap: Record<string, unknown>): Job {
  const out: Record<string, unknown> = {};
  for (const [key, col] of JOB_COLUMNS) {
    const v = snap[col.name];
    out[key] = col.columnType === 'PgTimestamp' && typeof v === 'string' ? new Date(v) : (v ?? null);
  }
  return out as Job;
}

/** The JSON body of a delivery: {id, type, at, job, …event fields}. The same bytes on every retry. */
export function deliveryBody(e: Pick<WebhookEvent, 'id' | 'type' | 'at' | 'job' | 'data' | 'sequence'>): string {
  // A ping is about no job: {id, type, at, webhookId, message}.
  if (e.type === WEBHOOK_TEST_EVENT) return JSON.stringify({ id: e.id, type: e.type, at: e.at.toISOString(), ...e.data });
  // `sequence`: this event's place among its job's events (1, 2, …), for receivers to order by.
  return JSON.stringify({ id: e.id, type: e.type, at: e.at.toISOString(), job: jobToJson(snapshotToJob(e.job)), sequence: e.sequence, ...e.data });
}

/** Conditions for the subscriptions this actor may see. */
function visibleTo(actor: Actor): SQL | undefined {
  if (actor.kind === 'user') return eq(webhooks.ownerUserId, actor.id);
  requireRole(actor, 'viewer');
  return undefined;
}

function mayManage(actor: Actor, w: Webhook): boolean {
  if (actor.kind === 'user') return w.ownerUserId === actor.id;
  return hasRole(actor, 'operator');
}

/**
 * POST /api/v1/webhooks. The URL is checked (scheme; by default public addresses only) before
 * anything is written; the secret is returned here and never again.
 */
export async function createWebhook(
  ctx: Ctx,
  actor: Actor,
  raw: unknown,
  o: { allowPrivate?: boolean; resolve?: Resolver } = {},
): Promise<{ webhook: Webhook; secret: string }> {
  const input = parseInput(createWebhookSchema, raw);
  let scope: string | null;
  if (actor.kind === 'user') {
    if (input.userId && input.userId !== actor.id) throw forbidden('A user key subscribes to its own jobs only; leave userId out');
    scope = actor.id;
  } else {
    requireRole(actor, 'operator');
    scope = input.userId ?? null;
  }
  const url = await checkWebhookUrl(input.url, { allowPrivate: o.allowPrivate ?? config().WARDEN_WEBHOOK_ALLOW_PRIVATE, resolve: o.resolve });
  const secret = input.secret ?? newWebhookSecret();
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    if (scope) {
      const [u] = await tx.select({ id: users.id }).from(users).where(eq(users.id, scope));
      if (!u) throw invalid(`User ${scope} not found`, 'userId', 'unknown_user');
    }
    // Lock the owner's row: the per-owner cap holds under concurrent creates.
    let owned: SQL;
    if (actor.kind === 'user') {
      await tx.select({ id: users.id }).from(users).where(eq(users.id, actor.id)).for('update');
      owned = eq(webhooks.ownerUserId, actor.id);
    } else if (actor.kind === 'operator') {
      await tx.select({ id: operators.id }).from(operators).where(eq(operators.id, actor.id)).for('update');
      owned = eq(webhooks.ownerOperatorId, actor.id);
    } else {
      owned = sql`${webhooks.ownerUserId} is null and ${webhooks.ownerOperatorId} is null`;
    }
    const [c] = await tx.select({ n: count() }).from(webhooks).where(owned);
    if ((c?.n ?? 0) >= MAX_WEBHOOKS_PER_OWNER) {
      throw new AppError(429, 'too_many_webhooks', `At most ${MAX_WEBHOOKS_PER_OWNER} webhooks per owner; delete one first`);
    }
    const [w] = await tx
      .insert(webhooks)
      .values({
        url,
        secret,
        events: input.events ?? [...WEBHOOK_EVENTS],
        userId: scope,
        ownerUserId: actor.kind === 'user' ? actor.id : null,
        ownerOperatorId: actor.kind === 'operator' ? actor.id : null,
        createdBy: actorLabel(actor),
        createdAt: now,
      })
      .returning();
    await audit(tx, { actor, action: 'webhook.create', targetType: 'webhook', targetId: w!.id, at: now, details: { url, events: w!.events, userId: scope } });
    return { webhook: w!, secret };
  });
}

/** GET /api/v1/webhooks — newest first. */
export async function listWebhooks(ctx: Ctx, actor: Actor): Promise<Webhook[]> {
  return ctx.db.select().from(webhooks).where(visibleTo(actor)).orderBy(desc(webhooks.createdAt), desc(webhooks.id)).limit(500);
}

/** One subscription the actor may see (others are 404, not 403: no probing). */
export async function getWebhook(ctx: Ctx, actor: Actor, id: string): Promise<Webhook> {
  if (!isUuid(id)) throw notFound('Webhook', id);
  const cond = visibleTo(actor);
  const [w] = await ctx.db.select().from(webhooks).where(and(eq(webhooks.id, id), cond));
  if (!w) throw notFound('Webhook', id);
  return w;
}

/** DELETE /api/v1/webhooks/:id — its pending deliveries go with it. */
export async function deleteWebhook(ctx: Ctx, actor: Actor, id: string): Promise<void> {
  const w = await getWebhook(ctx, actor, id);
  if (!mayManage(actor, w)) requireRole(actor, 'operator');
  const now = ctx.clock.now();
  await ctx.db.transaction(async (tx) => {
    const gone = await tx.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id });
    if (gone.length === 0) throw notFound('Webhook', id);
    await audit(tx, { actor, action: 'webhook.delete', targetType: 'webhook', targetId: id, at: now, details: { url: w.url } });
  });
}

/** GET /api/v1/webhooks/:id/deliveries — newest first, `cursor` pages (`nextCursor`). */
export async function listDeliveries(ctx: Ctx, actor: Actor, id: string, rawQuery: Record<string, string | undefined> = {}) {
  const q = parseInput(listDeliveriesQuerySchema, rawQuery);
  const w = await getWebhook(ctx, actor, id);
  const limit = q.limit ?? 50;
  const where: SQL[] = [eq(webhookDeliveries.webhookId, w.id)];
  if (q.status) where.push(eq(webhookDeliveries.status, q.status));
  if (q.cursor) where.push(lt(webhookDeliveries.seq, Number(q.cursor)));
  const rows = await ctx.db
    .select({ d: webhookDeliveries, e: { id: webhookEvents.id, type: webhookEvents.type, at: webhookEvents.at } })
    .from(webhookDeliveries)
    .innerJoin(webhookEvents, eq(webhookEvents.seq, webhookDeliveries.eventSeq))
    .where(and(...where))
    .orderBy(desc(webhookDeliveries.seq))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return {
    webhook: w,
    deliveries: page.map((r) => deliveryToJson(r.d, r.e)),
    nextCursor: rows.length > limit ? String(page[page.length - 1]!.d.seq) : null,
  };
}

/** Delivery counts by status for some subscriptions (the dashboard's list). */
export async function deliveryCounts(db: DbOrTx, ids: string[]): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (ids.length === 0) return out;
  const rows = await db
    .select({ id: webhookDeliveries.webhookId, status: webhookDeliveries.status, n: count() })
    .from(webhookDeliveries)
    .where(inArray(webhookDeliveries.webhookId, ids))
    .groupBy(webhookDeliveries.webhookId, webhookDeliveries.status);
  for (const r of rows) {
    const m = out.get(r.id) ?? {};
    m[r.status] = Number(r.n);
    out.set(r.id, m);
  }
  return out;
}

/**
 * Send a delivery again (dashboard): back to pending, due now, with a fresh 24 h retry window.
 * It keeps its id, so a receiver that dedupes on Warden-Delivery still sees the event once.
 */
export async function redeliver(ctx: Ctx, actor: Actor, deliveryId: string): Promise<WebhookDelivery> {
  if (!isUuid(deliveryId)) throw notFound('Delivery', deliveryId);
  const [found] = await ctx.db.select({ d: webhookDeliveries, w: webhooks }).from(webhookDeliveries).innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId)).where(eq(webhookDeliveries.id, deliveryId));
  if (!found || (actor.kind === 'user' && found.w.ownerUserId !== actor.id)) throw notFound('Delivery', deliveryId);
  if (!mayManage(actor, found.w)) requireRole(actor, 'operator');
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .update(webhookDeliveries)
      // A lease in force is kept: a send in flight finishes and records its outcome as usual.
      .set({ status: 'pending', nextAttemptAt: now, giveUpAt: new Date(now.getTime() + WEBHOOK_RETRY_WINDOW_MS), updatedAt: now })
      .where(eq(webhookDeliveries.id, deliveryId))
      .returning();
    if (!row) throw notFound('Delivery', deliveryId);
    await audit(tx, { actor, action: 'webhook.redeliver', targetType: 'webhook', targetId: found.w.id, at: now, details: { deliveryId, was: found.d.status, attempts: found.d.attempts } });
    return row;
  });
}

/**
 * History: delivered and failed deliveries older than `days`, then events no delivery refers to
 * any more (older than an hour, so one being written is never caught), in bounded batches.
 */
export async function purgeWebhookHistory(db: DbOrTx, now: Date, days: number, batch = 1000): Promise<number> {
  const cutoff = new Date(now.getTime() - days * 86400_000).toISOString();
  const d = await db.execute(sql`
    delete from webhook_deliveries where seq in (
      select seq from webhook_deliveries where status <> 'pending' and created_at < ${cutoff}::timestamptz limit ${batch})`);
  const e = await db.execute(sql`
    delete from webhook_events where seq in (
      select e.seq from webhook_events e
      where e.at < ${new Date(now.getTime() - 3600_000).toISOString()}::timestamptz
        and not exists (select 1 from webhook_deliveries d where d.event_seq = e.seq)
      limit ${batch})`);
  // Attempts go with their delivery (cascade); and no subscription keeps more than its last N.
  const a = await trimWebhookAttempts(db);
  return (d.count ?? 0) + (e.count ?? 0) + a;
}

/** Attempts kept per subscription (the history purge trims older ones). */
export const WEBHOOK_ATTEMPTS_KEPT = 500;
/** Bytes of an answer's body kept per attempt. */
export const ATTEMPT_RESPONSE_BYTES = 4096;

export function attemptToJson(a: WebhookAttempt) {
  return {
    id: String(a.seq),
    deliveryId: a.deliveryId,
    eventId: a.eventId,
    event: a.eventType as DeliveryEventType,
    attempt: a.attempt,
    at: a.at.toISOString(),
    ok: a.responseStatus !== null && a.responseStatus >= 200 && a.responseStatus < 300,
    requestBody: a.requestBody,
    responseStatus: a.responseStatus,
    responseBody: a.responseBody,
    error: a.error,
    durationMs: a.durationMs,
  };
}
export type AttemptJson = ReturnType<typeof attemptToJson>;

/** GET /api/v1/webhooks/:id/attempts — every send, newest first, `cursor` pages (`nextCursor`). */
export async function listAttempts(ctx: Ctx, actor: Actor, id: string, rawQuery: Record<string, string | undefined> = {}) {
  const q = parseInput(listAttemptsQuerySchema, rawQuery);
  const w = await getWebhook(ctx, actor, id);
  const limit = q.limit ?? 50;
  const where: SQL[] = [eq(webhookAttempts.webhookId, w.id)];
  if (q.cursor) where.push(lt(webhookAttempts.seq, Number(q.cursor)));
  const rows = await ctx.db
    .select()
    .from(webhookAttempts)
    .where(and(...where))
    .orderBy(desc(webhookAttempts.seq))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { attempts: page.map(attemptToJson), nextCursor: rows.length > limit ? String(page[page.length - 1]!.seq) : null };
}

/**
 * POST /api/v1/webhooks/:id/ping — a `webhook.test` event for this subscription only, written to
 * the outbox like any event, so the worker signs, sends and retries it the usual way. One at a
 * time: while a ping of this subscription is still pending, another is 429 `ping_pending`.
 * Audited (`webhook.test`).
 */
export async function pingWebhook(ctx: Ctx, actor: Actor, id: string): Promise<{ deliveryId: string; eventId: string }> {
  const w = await getWebhook(ctx, actor, id);
  if (!mayManage(actor, w)) requireRole(actor, 'operator');
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    // The subscription's row lock orders concurrent pings, so only one finds none pending.
    const [locked] = await tx.select({ id: webhooks.id }).from(webhooks).where(eq(webhooks.id, w.id)).for('update');
    if (!locked) throw notFound('Webhook', id);
    const [pending] = await tx
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .innerJoin(webhookEvents, eq(webhookEvents.seq, webhookDeliveries.eventSeq))
      .where(and(eq(webhookDeliveries.webhookId, w.id), eq(webhookDeliveries.status, 'pending'), eq(webhookEvents.type, WEBHOOK_TEST_EVENT)))
      .limit(1);
    if (pending) throw new AppError(429, 'ping_pending', 'A test ping to this webhook is still being sent; wait for it to be delivered or given up');
    const [ev] = await tx
      .insert(webhookEvents)
      .values({ type: WEBHOOK_TEST_EVENT, jobId: null, at: now, job: {}, data: { webhookId: w.id, message: `Test ping from Warden, sent by ${actorLabel(actor)}` } })
      .returning();
    const [d] = await tx
      .insert(webhookDeliveries)
      .values({ webhookId: w.id, eventSeq: ev!.seq, jobId: null, nextAttemptAt: now, giveUpAt: new Date(now.getTime() + WEBHOOK_RETRY_WINDOW_MS), createdAt: now, updatedAt: now })
      .returning();
    await audit(tx, { actor, action: 'webhook.test', targetType: 'webhook', targetId: w.id, at: now, details: { url: w.url, deliveryId: d!.id } });
    return { deliveryId: d!.id, eventId: ev!.id };
  });
}

/** Keeps the newest WEBHOOK_ATTEMPTS_KEPT attempts per subscription, in bounded batches. */
export async function trimWebhookAttempts(db: DbOrTx, kept = WEBHOOK_ATTEMPTS_KEPT, batch = 5000): Promise<number> {
  const r = await db.execute(sql`
    delete from webhook_attempts where seq in (
      select seq from (
        select seq, row_number() over (partition by webhook_id order by seq desc) as n from webhook_attempts
      ) x where x.n > ${kept} limit ${batch})`);
  return r.count ?? 0;
}
