/**
 * The webhook event vocabulary, said once: the event types a subscription may ask for, and which
 * audit action (every job state change writes one, in its transaction) is which event. No runtime
 * imports: the shared input schemas and client components use this module too.
 */
export const WEBHOOK_EVENTS = [
  'job.started',
  'job.warning',
  'job.terminating',
  'job.timed_out',
  'job.killed',
  'job.succeeded',
  'job.failed',
  'job.lost',
  'job.retried',
  'job.cancelled',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/**
 * A test ping (POST /api/v1/webhooks/:id/ping): about no job, sent to that one subscription only,
 * through the same outbox, signature and retries as any event. Not something to subscribe to.
 */
export const WEBHOOK_TEST_EVENT = 'webhook.test' as const;
/** Every event type a delivery may carry. */
export const DELIVERY_EVENTS = [...WEBHOOK_EVENTS, WEBHOOK_TEST_EVENT] as const;
export type DeliveryEventType = (typeof DELIVERY_EVENTS)[number];

/** The part of an audit row the mapping reads. */
export interface AuditLike {
  action: string;
  targetType: string;
  targetId?: string | null;
  success?: boolean;
  reason?: string | null;
  details?: Record<string, unknown>;
  at: Date;
}

export interface MappedEvent {
  type: WebhookEventType;
  jobId: string;
  at: Date;
  /** Sent beside `job` in the delivery body. */
  data: Record<string, unknown>;
  /** Only when the job row (as of this transaction) is in this status, e.g. job.started only if really running. */
  requireStatus?: string;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * Pure: the webhook event an audit row stands for, or null. Failed steps (success false) are not
 * events. Notes on the choices:
 * - `container.start` is job.started only when the job really became `running` (a job killed
 *   while starting gets its container recorded but goes on terminating: no job.started).
 * - `job.kill` with `upgrade` (a terminating job made forceful) is not a second job.terminating.
 * - `job.start_failed` ends the job `failed` (image unavailable, engine refusal): job.failed.
 */
export function webhookEventFor(e: AuditLike): MappedEvent | null {
  if (e.targetType !== 'job' || !e.targetId || e.success === false) return null;
  const d = e.details ?? {};
  const base = { jobId: e.targetId, at: e.at };
  switch (e.action) {
    case 'container.start':
      return { ...base, type: 'job.started', data: {}, requireStatus: 'running' };
    case 'job.warn': {
      const deadlineAt = str(d.deadlineAt);
      const secondsLeft = deadlineAt ? Math.max(0, Math.round((Date.parse(deadlineAt) - e.at.getTime()) / 1000)) : null;
      return { ...base, type: 'job.warning', data: { deadlineAt, secondsLeft } };
    }
    case 'job.timeout':
    case 'job.idle_timeout': // an idle timeout is a timeout (terminate_kind 'timeout'); its reason says idle
      return { ...base, type: 'job.terminating', data: { kind: 'timeout', reason: e.reason ?? null } };
    case 'job.kill':
      if (d.upgrade) return null;
      return { ...base, type: 'job.terminating', data: { kind: 'kill', reason: e.reason ?? null, force: d.force === true } };
    case 'job.terminate_requested':
      return { ...base, type: 'job.terminating', data: { kind: str(d.kind) ?? 'other', reason: e.reason ?? null } };
    case 'job.timed_out':
    case 'job.killed':
    case 'job.succeeded':
    case 'job.failed':
    case 'job.start_failed':
    case 'job.cancel':
      return { ...base, type: FINAL[e.action]!, data: { reason: e.reason ?? null } };
    case 'job.lost':
      return { ...base, type: 'job.lost', data: { reason: e.reason ?? null, retry: d.retry === true, attempt: typeof d.attempt === 'number' ? d.attempt : null } };
    case 'job.retry':
      return { ...base, type: 'job.retried', data: { attempt: typeof d.attempt === 'number' ? d.attempt : null } };
    default:
      return null;
  }
}

const FINAL: Record<string, WebhookEventType> = {
  'job.timed_out': 'job.timed_out',
  'job.killed': 'job.killed',
  'job.succeeded': 'job.succeeded',
  'job.failed': 'job.failed',
  'job.start_failed': 'job.failed',
  'job.cancel': 'job.cancelled',
};
