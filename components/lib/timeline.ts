/**
 * A job's timeline with its repeats collapsed: a run of the same event (same action, actor, reason,
 * error and outcome) — or of the same pair of events taking turns, like a claim and a requeue — is
 * shown once with "×N". A job whose start loops must not make a page thousands of rows long.
 */

export interface TimelineEvent {
  id: number | string;
  action: string;
  actor: string;
  reason: string | null;
  error: string | null;
  success: boolean;
}

/** One row of the collapsed timeline: `events` (one, or a pair that took turns) happened `count` times in a row. */
export interface TimelineGroup<T extends TimelineEvent> {
  events: T[];
  count: number;
}

const same = (a: TimelineEvent, b: TimelineEvent) =>
  a.action === b.action && a.actor === b.actor && a.reason === b.reason && a.error === b.error && a.success === b.success;

/** Pure: collapses runs of a repeating event, or of a repeating pair, keeping the first occurrence. */
export function collapseTimeline<T extends TimelineEvent>(events: readonly T[]): TimelineGroup<T>[] {
  const out: TimelineGroup<T>[] = [];
  let i = 0;
  while (i < events.length) {
    const a = events[i]!;
    // A single event repeated.
    let n = 1;
    while (i + n < events.length && same(events[i + n]!, a)) n++;
    if (n > 1) {
      out.push({ events: [a], count: n });
      i += n;
      continue;
    }
    // A pair taking turns (a, b, a, b, …), at least twice.
    const b = events[i + 1];
    if (b) {
      let pairs = 1;
      while (i + 2 * pairs + 1 < events.length && same(events[i + 2 * pairs]!, a) && same(events[i + 2 * pairs + 1]!, b)) pairs++;
      if (pairs > 1) {
        out.push({ events: [a, b], count: pairs });
        i += 2 * pairs;
        continue;
      }
    }
    out.push({ events: [a], count: 1 });
    i++;
  }
  return out;
}
