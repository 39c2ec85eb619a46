import { sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { isUuid } from './schemas';
import { webhookEventFor, type AuditLike } from './webhook-events';

/**
 * The webhook outbox. audit() calls this for every batch of audit rows it writes, inside the
 * transaction of the state change (auditCtes() puts the same statement into the change's own,
 * as CTEs), so an event exists exactly when its change committed (a rolled-back kill leaves no
 * job.terminating behind, a committed one always has it).
 *
 * Cost: nothing for audit rows that are not job events; otherwise one statement per audit()
 * call, whatever the number of events or subscriptions: an INSERT … SELECT that writes the event
 * only when a subscription wants it (so with no webhooks it writes nothing) and one delivery per
 * matching subscription. The event keeps the job row as it is in this transaction (to_jsonb,
 * without env, which may hold secrets, and the log tail): a retry hours later still tells what
 * happened then.
 */

/** How long a delivery is retried before it is marked failed. */
export const WEBHOOK_RETRY_WINDOW_MS = 24 * 3600_000;

export async function enqueueWebhookEvents(db: DbOrTx, events: AuditLike[]): Promise<void> {
  const ctes = webhookOutboxCtes(events, sql`jobs`);
  if (ctes) await db.execute(sql`with ${ctes} select 1`);
}

/**
 * The outbox's statement as CTEs (`ob_x`, `ob_ev`, `ob_wd`) for a WITH clause, or null when no
 * event is a job event. `src` is the relation that holds the job rows as this transaction has
 * them: the table itself (a statement after the change), or the RETURNING CTE of an UPDATE in
 * the same statement — sub-statements of one WITH all see the snapshot from before it, so there
 * the table would still show the old row.
 */
export function webhookOutboxCtes(events: AuditLike[], src: SQL): SQL | null {
  const mapped = [];
  for (const e of events) {
    const m = webhookEventFor(e);
    if (m && isUuid(m.jobId)) mapped.push(m);
  }
  if (mapped.length === 0) return null;
  const rows = JSON.stringify(
    mapped.map((m, ord) => ({ ord, type: m.type, job_id: m.jobId, at: m.at.toISOString(), data: m.data, require_status: m.requireStatus ?? null })),
  );
  return sql`
    ob_x as (
      select x.ord, x.type, x.job_id, x.at, x.data, to_jsonb(j) - 'env' - 'log_tail' as job
      from jsonb_to_recordset(${rows}::jsonb)
        as x(ord int, type text, job_id uuid, at timestamptz, data jsonb, require_status text)
      join ${src} j on j.id = x.job_id
      where (x.require_status is null or j.status::text = x.require_status)
        and exists (select 1 from webhooks w where (w.user_id is null or w.user_id = j.user_id) and x.type = any(w.events))
    ), ob_ev as (
      insert into webhook_events (type, job_id, at, job, data, sequence)
      select type, job_id, at, job, data,
        coalesce((select max(e.sequence) from webhook_events e where e.job_id = ob_x.job_id), 0)
          + row_number() over (partition by job_id order by ord)
      from ob_x order by ord
      returning seq, type, job_id, at
    ), ob_wd as (
      insert into webhook_deliveries (webhook_id, event_seq, job_id, next_attempt_at, give_up_at, created_at, updated_at)
      select w.id, ev.seq, ev.job_id, ev.at, ev.at + ${WEBHOOK_RETRY_WINDOW_MS} * interval '1 millisecond', ev.at, ev.at
      from ob_ev ev
      join ${src} j on j.id = ev.job_id
      join webhooks w on (w.user_id is null or w.user_id = j.user_id) and ev.type = any(w.events)
      order by ev.seq, w.id
    )`;
}
