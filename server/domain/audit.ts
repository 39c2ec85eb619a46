import { auditEvents } from '../db/schema';
import type { DbOrTx } from '../db/client';
import { type Actor, actorLabel } from './actor';
import { enqueueWebhookEvents } from './outbox';

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
  await db.insert(auditEvents).values(
    events.map((e) => ({
      at: e.at,
      actor: typeof e.actor === 'string' ? e.actor : actorLabel(e.actor),
      action: e.action,
      targetType: e.targetType,
      targetId: e.targetId ?? null,
      reason: e.reason ?? null,
      success: e.success ?? true,
      error: e.error ?? null,
      details: e.details ?? {},
    })),
  );
  await enqueueWebhookEvents(db, events);
}
