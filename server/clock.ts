/** Time comes from a clock so sweepers, the dispatcher and tests agree on "now". */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests move by hand: no sleeps. */
export class FakeClock implements Clock {
  private t: number;
  constructor(start: Date | number = Date.UTC(2026, 0, 1, 12, 0, 0)) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): Date {
    this.t += ms;
    return this.now();
  }
  set(at: Date | number): void {
    this.t = typeof at === 'number' ? at : at.getTime();
  }
}

/**
 * The database's clock, read without a round trip: `Date.now()` plus an offset measured from
 * `select now()`. Heartbeats, staleness and deadlines are compared across workers, so they must
 * all come from one clock; a worker whose own clock is 90 s off would otherwise write heartbeats
 * that look stale (or fresh) to the others and deadlines that fire early (or late).
 *
 * The offset is the midpoint estimate (NTP's): the server's time minus the local time halfway
 * through the round trip, so the error is at most half the round trip (well under 1 ms locally).
 * Of several samples the one with the shortest round trip wins. Re-measured every `everyMs`, so a
 * local clock that is stepped (NTP, a VM resumed) is followed within that period; a failed
 * measurement keeps the last offset.
 */
export class DbClock implements Clock {
  private offsetMs = 0;
  private timer: NodeJS.Timeout | null = null;

  /** `read` returns the database's `now()` (e.g. `select now()`). */
  constructor(private readonly read: () => Promise<Date>) {}

  /** Measures once (throws if the database does not answer), then keeps re-measuring. */
  static async start(read: () => Promise<Date>, everyMs = 30_000): Promise<DbClock> {
    const c = new DbClock(read);
    await c.measure();
    c.timer = setInterval(() => void c.measure().catch(() => {}), everyMs);
    c.timer.unref();
    return c;
  }

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  /** Database time minus local time, in ms (for logs and tests). */
  offset(): number {
    return this.offsetMs;
  }

  async measure(samples = 3): Promise<number> {
    let best: { rtt: number; offset: number } | null = null;
    for (let i = 0; i < samples; i++) {
      const t0 = Date.now();
      const server = (await this.read()).getTime();
      const t1 = Date.now();
      const rtt = t1 - t0;
      if (!best || rtt < best.rtt) best = { rtt, offset: server - (t0 + rtt / 2) };
    }
    this.offsetMs = Math.round(best!.offset);
    return this.offsetMs;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
