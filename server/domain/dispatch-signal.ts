import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';

/**
 * "There may be work to claim": how a submission (or a freed slot) wakes dispatchers at once
 * instead of waiting for their 1 s backstop tick.
 *
 * - Other replicas: `pg_notify` on DISPATCH_CHANNEL inside the submitting transaction, so it is
 *   delivered on commit (never for a rolled-back submit, never before the row is visible); each
 *   worker LISTENs on it (server/worker/dispatch-loop.ts).
 * - This process: `dispatchSignal.wake()` after the commit, without a database round trip. Kept on
 *   globalThis because Next bundles route handlers apart from the worker's module instance.
 *
 * Wake-ups are hints and coalesce: a dispatcher that is already draining just drains once more.
 */
export const DISPATCH_CHANNEL = 'warden_dispatch';

export async function notifyDispatch(tx: DbOrTx): Promise<void> {
  await tx.execute(sql`select pg_notify(${DISPATCH_CHANNEL}, '')`);
}

type Listener = () => void;

class DispatchSignal {
  private readonly listeners = new Set<Listener>();

  /** Registers a listener; returns the function that removes it. */
  on(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  wake(): void {
    for (const fn of this.listeners) fn();
  }
}

const g = globalThis as unknown as { __wardenDispatchSignal?: DispatchSignal };
export const dispatchSignal: DispatchSignal = (g.__wardenDispatchSignal ??= new DispatchSignal());
