import type { Actor } from './actor';
import { RetryLaterError } from './errors';

/**
 * Slots for `GET /api/v1/jobs/:id/logs?follow=true`. Each follow holds an engine socket (and
 * a response) until the container stops or the client goes away; unbounded, 60 follows from one
 * user opened 60 engine sockets. So: at most FOLLOWS_PER_ACTOR per user (or operator) and
 * WARDEN_MAX_LOG_FOLLOWS per server process; past either, a 429 with Retry-After. A slot is
 * freed when its stream closes, whichever side ends it.
 *
 * In process, not in the database: the sockets are this process's, and a crashed process frees
 * its slots with it.
 */

export const FOLLOWS_PER_ACTOR = 4;
/** What a refused follow is told to wait: follows end when a job ends or its reader leaves. */
export const FOLLOW_RETRY_AFTER_S = 10;

export class FollowSlots {
  private readonly byActor = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxTotal: number,
    private readonly perActor = FOLLOWS_PER_ACTOR,
  ) {}

  /** Open follows now, all and of one actor. */
  count(key?: string): number {
    return key === undefined ? this.total : (this.byActor.get(key) ?? 0);
  }

  /** Takes a slot for the actor, or throws the 429. The returned release is idempotent. */
  acquire(actor: Actor): () => void {
    const key = actorKey(actor);
    const mine = this.byActor.get(key) ?? 0;
    if (mine >= this.perActor) {
      throw new RetryLaterError('too_many_follows', `You already follow ${mine} log streams, the most one user may at once; close one (or read without follow=true)`, FOLLOW_RETRY_AFTER_S);
    }
    if (this.total >= this.maxTotal) {
      throw new RetryLaterError('too_many_follows', `This server already serves ${this.total} log streams (WARDEN_MAX_LOG_FOLLOWS); try again shortly`, FOLLOW_RETRY_AFTER_S);
    }
    this.byActor.set(key, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.byActor.get(key) ?? 1) - 1;
      if (n <= 0) this.byActor.delete(key);
      else this.byActor.set(key, n);
    };
  }
}

function actorKey(a: Actor): string {
  if (a.kind === 'user' || a.kind === 'operator') return `${a.kind}:${a.id}`;
  return `system:${a.name}`;
}

/** This process's slots (on globalThis: one set across hot reloads), sized on first use. */
export function followSlots(maxTotal: number): FollowSlots {
  const g = globalThis as { __wardenFollowSlots?: FollowSlots };
  g.__wardenFollowSlots ??= new FollowSlots(maxTotal);
  return g.__wardenFollowSlots;
}
