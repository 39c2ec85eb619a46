import http from 'node:http';
import https from 'node:https';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { webhookAttempts, webhookDeliveries, webhookEvents, webhooks } from '../db/schema';
import { backoffFor, errMessage, WEBHOOK_BACKOFF } from '../domain/side-effects';
import { ATTEMPT_RESPONSE_BYTES, deliveryBody, signatureHeader } from '../domain/webhooks';
import { guardedLookup, literalAddressAllowed } from '../domain/webhook-url';
import { log } from '../log';

/**
 * Webhook delivery: sends the outbox's pending deliveries, at least once, surviving restarts.
 *
 * Claim (one statement): due pending deliveries whose lease is free, taken round-robin across
 * owners (the user or operator who made the subscription): every owner's oldest due delivery
 * before anyone's second, and never more than `perOwner` in flight for one owner, counted from
 * the leases in the table (so across replicas too). One user with 25 hooks at slow endpoints
 * holds at most `perOwner` send slots; everyone else's events go out beside them. The claim
 * takes a lease (LEASE_MS) and counts the attempt, `FOR UPDATE SKIP LOCKED`: two replicas never
 * send one attempt at once (the row lock orders the claims and the lease turns the later one
 * away). Two replicas claiming at the same instant may each grant an owner its remaining room,
 * so the per-owner cap can be exceeded by (replicas - 1) x perOwner for a moment, never the
 * global slots. A worker that dies mid-send leaves the lease to run out, and whoever claims next
 * sends it again with the same Warden-Delivery id (at-least-once; receivers dedupe on it).
 *
 * Order: deliveries are not held back behind an earlier event of the same job that is still
 * being retried (a receiver that failed job.started must still get job.warning before the
 * deadline). Each body carries the event's per-job `sequence` (1, 2, …) instead, so a receiver
 * that cares orders one job's events itself.
 *
 * Send: POST the JSON body with Warden-Event, Warden-Delivery and Warden-Signature; any 2xx
 * within TIMEOUT_MS is delivered, anything else (another status, a refused connection, no
 * answer in time, an address the URL may not reach now) is retried on WEBHOOK_BACKOFF until
 * the delivery's give_up_at (24 h), then marked failed. The outcome is written only if the
 * attempt is still ours (`attempts` unchanged), so a slow sender whose lease ran out cannot
 * overwrite a newer attempt.
 */

/** No answer within this is a failed attempt (the issue's 10 s). */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Longer than the timeout with room to record the outcome; only a stalled process outlives it. */
export const LEASE_MS = 2 * DELIVERY_TIMEOUT_MS;
/** Sends in flight for one owner's subscriptions at once (of the worker's 16 slots). */
export const PER_OWNER_IN_FLIGHT = 4;
/** Only the first bytes of an error answer are kept for `lastError`. */
const ERROR_BODY_BYTES = 200;

export interface DeliveryOptions {
  timeoutMs?: number;
  leaseMs?: number;
  allowPrivate: boolean;
  random?: () => number;
  /** Sends in flight for one owner at once (PER_OWNER_IN_FLIGHT). */
  perOwner?: number;
}

interface Claimed {
  seq: number;
  id: string;
  webhookId: string;
  attempts: number;
  giveUpAt: Date;
  url: string;
  secret: string;
  event: { id: string; type: string; at: Date; sequence: number | null; job: Record<string, unknown>; data: Record<string, unknown> };
}

/** Claims up to `n` due deliveries (see the header) and returns what sending them needs. */
export async function claimDeliveries(ctx: Ctx, n: number, leaseMs = LEASE_MS, perOwner = PER_OWNER_IN_FLIGHT): Promise<Claimed[]> {
  if (n <= 0) return [];
  const now = ctx.clock.now();
  const nowIso = now.toISOString();
  const claimed = (await ctx.db.execute(sql`
    with busy as (
      select coalesce(w.owner_user_id::text, w.owner_operator_id::text, '') as owner, count(*)::int as n
      from webhook_deliveries d join webhooks w on w.id = d.webhook_id
      where d.status = 'pending' and d.lease_until > ${nowIso}::timestamptz
      group by 1
    ), ranked as (
      select d.seq, d.next_attempt_at,
        row_number() over (partition by coalesce(w.owner_user_id::text, w.owner_operator_id::text, '') order by d.next_attempt_at, d.seq)
          + coalesce(b.n, 0) as turn
      from webhook_deliveries d
      join webhooks w on w.id = d.webhook_id
      left join busy b on b.owner = coalesce(w.owner_user_id::text, w.owner_operator_id::text, '')
      where d.status = 'pending' and d.next_attempt_at <= ${nowIso}::timestamptz
        and (d.lease_until is null or d.lease_until <= ${nowIso}::timestamptz)
    ), due as (
      select d.seq from webhook_deliveries d
      join ranked r on r.seq = d.seq
      where r.turn <= ${perOwner} and d.status = 'pending'
        and (d.lease_until is null or d.lease_until <= ${nowIso}::timestamptz)
      order by r.turn, r.next_attempt_at, r.seq
      limit ${n}
      for update of d skip locked
    )
    update webhook_deliveries d
    set lease_until = ${new Date(now.getTime() + leaseMs).toISOString()}::timestamptz, attempts = d.attempts + 1, updated_at = ${nowIso}::timestamptz
    from due where d.seq = due.seq
    returning d.seq`)) as unknown as { seq: string | number }[];
  if (claimed.length === 0) return [];
  const rows = await ctx.db
    .select({ d: webhookDeliveries, url: webhooks.url, secret: webhooks.secret, e: webhookEvents })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
    .innerJoin(webhookEvents, eq(webhookEvents.seq, webhookDeliveries.eventSeq))
    .where(inArray(webhookDeliveries.seq, claimed.map((c) => Number(c.seq))))
    .orderBy(webhookDeliveries.seq);
  return rows.map((r) => ({
    seq: r.d.seq,
    id: r.d.id,
    webhookId: r.d.webhookId,
    attempts: r.d.attempts,
    giveUpAt: r.d.giveUpAt,
    url: r.url,
    secret: r.secret,
    event: { id: r.e.id, type: r.e.type, at: r.e.at, sequence: r.e.sequence, job: r.e.job, data: r.e.data },
  }));
}

export interface SendResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  /** The first ATTEMPT_RESPONSE_BYTES of the answer's body (null: no answer). */
  body?: string | null;
}

/** One HTTP POST with the deadline and the address guard. Never throws. */
export function post(url: string, headers: Record<string, string>, body: string, o: { timeoutMs: number; allowPrivate: boolean }): Promise<SendResult> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return resolve({ ok: false, status: null, error: 'invalid URL' });
    }
    const refused = literalAddressAllowed(u, o.allowPrivate);
    if (refused) return resolve({ ok: false, status: null, error: `refused: ${refused}` });
    let done = false;
    const finish = (r: SendResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: guardedLookup(o.allowPrivate),
        // No keep-alive pool: each attempt resolves (and so re-checks) the name afresh.
        agent: false,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < ATTEMPT_RESPONSE_BYTES) chunks.push(c);
          size += c.length;
        });
        const excerpt = () => cutUtf8(Buffer.concat(chunks), ATTEMPT_RESPONSE_BYTES);
        res.on('end', () => {
          const ok = status >= 200 && status < 300;
          const body = excerpt();
          const text = body.slice(0, ERROR_BODY_BYTES).replace(/\s+/g, ' ').trim();
          finish({ ok, status, error: ok ? null : `HTTP ${status}${text ? `: ${text}` : ''}`, body });
        });
        res.on('error', (e) => finish({ ok: false, status, error: errMessage(e), body: excerpt() }));
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, status: null, error: `no answer within ${o.timeoutMs / 1000}s` });
      req.destroy();
    }, o.timeoutMs);
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      finish({ ok: false, status: null, error: code === 'EWEBHOOKBLOCKED' ? `refused: ${e.message}` : errMessage(e) });
    });
    req.end(body);
  });
}

/** The first `max` bytes of `b` as text, never splitting a UTF-8 character. */
export function cutUtf8(b: Buffer, max: number): string {
  if (b.length <= max) return b.toString('utf8');
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

/** Sends one claimed delivery, keeps the attempt (webhook_attempts) and records the outcome. Returns what became of it. */
export async function attemptDelivery(ctx: Ctx, c: Claimed, o: DeliveryOptions): Promise<'delivered' | 'retry' | 'failed' | 'lost_lease'> {
  const body = deliveryBody(c.event);
  const startedAt = ctx.clock.now();
  const t = Math.floor(startedAt.getTime() / 1000);
  const began = performance.now();
  const r = await post(
    c.url,
    {
      'content-type': 'application/json',
      'user-agent': 'Warden-Webhooks/1',
      'warden-event': c.event.type,
      'warden-delivery': c.id,
      'warden-signature': signatureHeader(c.secret, body, t),
    },
    body,
    { timeoutMs: o.timeoutMs ?? DELIVERY_TIMEOUT_MS, allowPrivate: o.allowPrivate },
  );
  const durationMs = Math.round(performance.now() - began);
  // Kept even if the lease ran out meanwhile (the send happened); not if the delivery is gone.
  await ctx.db.insert(webhookAttempts).values({
    webhookId: c.webhookId,
    deliverySeq: c.seq,
    deliveryId: c.id,
    eventId: c.event.id,
    eventType: c.event.type,
    attempt: c.attempts,
    at: startedAt,
    requestBody: body,
    responseStatus: r.status,
    responseBody: r.body ?? null,
    error: r.ok ? null : (r.error?.slice(0, 1000) ?? 'failed'),
    durationMs,
  }).catch((e: unknown) => log.warn({ err: errMessage(e), delivery: c.id }, 'webhook attempt not kept (its delivery was deleted?)'));
  const now = ctx.clock.now();
  const mine = and(eq(webhookDeliveries.seq, c.seq), eq(webhookDeliveries.attempts, c.attempts), eq(webhookDeliveries.status, 'pending'));
  if (r.ok) {
    const [row] = await ctx.db
      .update(webhookDeliveries)
      .set({ status: 'delivered', deliveredAt: now, lastStatus: r.status, lastError: null, leaseUntil: null, updatedAt: now })
      .where(mine)
      .returning({ seq: webhookDeliveries.seq });
    return row ? 'delivered' : 'lost_lease';
  }
  const next = new Date(now.getTime() + backoffFor(WEBHOOK_BACKOFF, c.attempts, o.random));
  const giveUp = next > c.giveUpAt;
  const [row] = await ctx.db
    .update(webhookDeliveries)
    .set({
      status: giveUp ? 'failed' : 'pending',
      nextAttemptAt: giveUp ? now : next,
      lastStatus: r.status,
      lastError: r.error?.slice(0, 1000) ?? 'failed',
      leaseUntil: null,
      updatedAt: now,
    })
    .where(mine)
    .returning({ seq: webhookDeliveries.seq });
  if (!row) return 'lost_lease';
  return giveUp ? 'failed' : 'retry';
}

export interface DeliverResult {
  claimed: number;
  delivered: number;
  retried: number;
  failed: number;
}

/**
 * Claims and sends until nothing is due (at most `maxRounds` claims of `batch`), waiting for
 * every send. Tests drive delivery with this; the worker uses startWebhookDelivery.
 */
export async function deliverDue(ctx: Ctx, o: DeliveryOptions & { batch?: number; maxRounds?: number }): Promise<DeliverResult> {
  const res: DeliverResult = { claimed: 0, delivered: 0, retried: 0, failed: 0 };
  for (let round = 0; round < (o.maxRounds ?? 20); round++) {
    const batch = await claimDeliveries(ctx, o.batch ?? 16, o.leaseMs, o.perOwner);
    if (batch.length === 0) break;
    res.claimed += batch.length;
    const outcomes = await Promise.all(batch.map((c) => attemptDelivery(ctx, c, o)));
    for (const x of outcomes) {
      if (x === 'delivered') res.delivered++;
      else if (x === 'retry') res.retried++;
      else if (x === 'failed') res.failed++;
    }
  }
  return res;
}

export interface DeliveryLoop {
  /** Claims what is due, up to the free send slots, and starts sending; does not wait for sends. */
  tick(): Promise<void>;
  /** Stops claiming and waits for sends in flight (each ends within the timeout). */
  stop(): Promise<void>;
}

/**
 * The worker's loop: a slow receiver holds one of `maxInFlight` send slots for at most the
 * timeout, never the loop, so other subscriptions' events (a job.warning someone acts on) are
 * not held up behind it. A finished send ticks again at once: the next event of that job may
 * now go, without waiting for the next scheduled tick.
 */
export function startWebhookDelivery(ctx: Ctx, o: DeliveryOptions & { maxInFlight?: number }): DeliveryLoop {
  const max = o.maxInFlight ?? 16;
  const inflight = new Set<Promise<unknown>>();
  let stopping = false;
  let running = false;
  let again = false;
  const tick = async (): Promise<void> => {
    if (stopping) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const batch = await claimDeliveries(ctx, max - inflight.size, o.leaseMs, o.perOwner);
        for (const c of batch) {
          const p = attemptDelivery(ctx, c, o)
            .catch((e) => log.warn({ err: errMessage(e), delivery: c.id }, 'webhook delivery could not be recorded'))
            .finally(() => {
              inflight.delete(p);
              void tick();
            });
          inflight.add(p);
        }
      } while (again && !stopping && inflight.size < max);
    } finally {
      running = false;
    }
  };
  return {
    tick,
    async stop() {
      stopping = true;
      await Promise.allSettled([...inflight]);
    },
  };
}
