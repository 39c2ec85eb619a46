import { createHash } from 'node:crypto';

/**
 * A line's place in a container's log, carried as the Server-Sent Events `id:` of each `line`
 * event of the live log stream, so that a reconnect (EventSource sends the last id it saw as
 * `Last-Event-ID`) goes on after the last line the client got instead of sending the tail again.
 *
 * The engines stamp every line with their own time to the nanosecond. A line is named by that
 * time `t`, its place `k` in the run of consecutive lines with that same time (1 but for lines
 * written in the same nanosecond), the time `p` of the line just before that run, and the
 * container (`c`, a short hash of its id): `c.p.t.k`, times in nanoseconds since the epoch.
 *
 * To resume, the server reads the container's log since RESUME_SLACK_NS before the earlier of p
 * and t (the last RESUME_WINDOW lines, of which those since: bounded work for the engine) and
 * looks for a line of time p directly followed by k lines of time t. The lines after it are the
 * client's next ones. The match is by position, not by time alone: lines written a little out of
 * time order (Docker stamps stdout and stderr in two threads) are neither lost nor sent twice, and
 * a run of equal times is counted from its start, which the read must show (p before it). Nothing
 * is held but a few times. When the line is not there (more than RESUME_WINDOW lines ago, another
 * container, a malformed id), the client gets the tail as on a first connection.
 *
 * The lines of the first run of a fresh read have no id (what came before them is not known, so
 * neither is their place in their run); nor have saved-tail lines (they have no times).
 */

/** Lines read back, at most, to find where a client left off. */
export const RESUME_WINDOW = 10_000;
/** How far before the client's last line the resume read starts (out-of-order stamps). */
export const RESUME_SLACK_NS = 1_000_000_000n;

export interface LogCursor {
  /** The container, hashed (containerTag). */
  c: string;
  /** Time of the line before the run. */
  p: bigint;
  /** Time of the line, and its place in the run of lines with that time (from 1). */
  t: bigint;
  k: number;
}

export function containerTag(containerId: string): string {
  return createHash('sha256').update(containerId).digest('hex').slice(0, 8);
}

const ID = /^([0-9a-f]{8})\.(\d{1,20})\.(\d{1,20})\.(\d{1,6})$/;

/** The cursor in a Last-Event-ID, or null when there is none or it is not one of ours. */
export function parseCursor(raw: string | null | undefined): LogCursor | null {
  const m = raw ? ID.exec(raw.trim()) : null;
  if (!m) return null;
  const c: LogCursor = { c: m[1]!, p: BigInt(m[2]!), t: BigInt(m[3]!), k: Number(m[4]!) };
  return c.k >= 1 && c.p !== c.t ? c : null;
}

/** Where the resume read starts: RESUME_SLACK_NS before the earlier of the two times. */
export function resumeSince(c: LogCursor): bigint {
  const s = (c.p < c.t ? c.p : c.t) - RESUME_SLACK_NS;
  return s > 0n ? s : 0n;
}

/** Runs of equal times, line by line: the time, its run's length so far, and the time before the run. */
class Runs {
  last: bigint | null = null;
  run = 0;
  pred: bigint | null = null;
  push(ns: string | undefined): bigint | null {
    if (ns === undefined) {
      // A line without a time breaks the chain: what follows cannot be placed.
      this.last = null;
      this.pred = null;
      this.run = 0;
      return null;
    }
    const t = BigInt(ns);
    if (t === this.last) this.run++;
    else {
      this.pred = this.last;
      this.last = t;
      this.run = 1;
    }
    return t;
  }
}

/** The `id:` of each line of one container's log, in the order read. */
export class LineIds {
  private readonly runs = new Runs();
  constructor(
    private readonly tag: string,
    from?: LogCursor,
  ) {
    if (from) Object.assign(this.runs, { last: from.t, run: from.k, pred: from.p });
  }

  /** This line's id; undefined when its place is not known. */
  next(ns: string | undefined): string | undefined {
    const t = this.runs.push(ns);
    if (t === null || this.runs.pred === null) return undefined;
    return `${this.tag}.${this.runs.pred}.${t}.${this.runs.run}`;
  }
}

/**
 * Finds the cursor's line in a read since resumeSince(cursor): feed each line's time; `found` on
 * the cursor's line (send what follows it), `lost` as soon as it cannot come any more.
 */
export class CursorSeek {
  private readonly runs = new Runs();
  private seen = 0;
  private readonly latest: bigint;
  constructor(
    private readonly cur: LogCursor,
    private readonly window = RESUME_WINDOW,
  ) {
    this.latest = (cur.p > cur.t ? cur.p : cur.t) + RESUME_SLACK_NS;
  }

  next(ns: string | undefined): 'skip' | 'found' | 'lost' {
    const { p, t, k } = this.cur;
    // Inside the cursor's run, after its line p, but short of k lines so far.
    const inRun = this.runs.last === t && this.runs.pred === p;
    this.seen++;
    const now = this.runs.push(ns);
    if (now === t) {
      if (this.runs.pred !== p) return 'lost';
      if (this.runs.run === k) return 'found';
      return this.runs.run > k ? 'lost' : 'skip';
    }
    // The run ended short of k lines; or a line well after the cursor's came first; or the
    // window is read through.
    if (inRun || (now !== null && now > this.latest) || this.seen >= this.window) return 'lost';
    return 'skip';
  }
}
