import { sql, type SQL } from 'drizzle-orm';
import { auditEvents } from '../db/schema';
import type { DbOrTx } from '../db/client';
import { type Actor, actorLabel } from './actor';
import { enqueueWebhookEvents, webhookOutboxCtes } from './outbox';

export interface AuditInput {
  actor: Actor | string;
  action: string;
  targetType: 'job' | 'plan' | 'class' | 'user' | 'operator' | 'container' | 'sweeper' | 'setting' | 'session' | 'node' | 'webhook';
  targetId?: string | null;
  reason?: string | null;
  success?: boolean;
  error?: string | null;
  details?: Record<string, unknown>;
  at: Date;
}

/**
 * Appends audit rows (append-only; never updated). Call inside the transaction that made the change:
 * job events among them also go to the webhook outbox (domain/outbox.ts) in the same transaction.
 */
export async function audit(db: DbOrTx, ...events: AuditInput[]): Promise<void> {
  if (events.length === 0) return;
  await db.insert(auditEvents).values(events.map(auditRow));
  await enqueueWebhookEvents(db, events);
}

/** The audit_events row of one event: audit() and auditCtes() write the same columns. */
function auditRow(e: AuditInput) {
  return {
    at: e.at,
    actor: typeof e.actor === 'string' ? e.actor : actorLabel(e.actor),
    action: e.action,
    targetType: e.targetType,
    targetId: e.targetId ?? null,
    reason: e.reason ?? null,
    success: e.success ?? true,
    error: e.error ?? null,
    details: e.details ?? {},
  };
}

/**
 * audit() for a change made in the same statement: the audit row and its webhook outbox rows as
 * CTEs (`audit_row`, then the outbox's) of a WITH clause whose earlier CTE `src` is the changed
 * row (an UPDATE … RETURNING). Written only when `src` has a row, so a conditional update that
 * matched nothing writes nothing; one statement, one round trip, no BEGIN/COMMIT. `details` is
 * SQL over that row (alias j) merged over e.details — the webhook mapping sees e.details only.
 */
export function auditCtes(src: SQL, e: AuditInput, details?: SQL): SQL {
  const r = auditRow(e);
  const row = sql`audit_row as (
    insert into ${auditEvents} (at, actor, action, target_type, target_id, reason, success, error, details)
    select ${r.at.toISOString()}::timestamptz, ${r.actor}, ${r.action}, ${r.targetType}, ${r.targetId}, ${r.reason},
      ${r.success}, ${r.error}, ${JSON.stringify(r.details)}::jsonb${details ? sql` || ${details}` : sql``}
    from ${src} j
  )`;
  const outbox = webhookOutboxCtes([e], src);
  return outbox ? sql`${row}, ${outbox}` : row;
}
