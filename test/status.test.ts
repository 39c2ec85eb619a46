import { describe, expect, it } from 'vitest';
import { JOB_STATUSES } from '../server/db/schema';
import { ACTIVE_STATUSES, ALL_STATUSES, FINAL_STATUSES, isActive, isFinal, isLive, LIVE_STATUSES, RUNNING_STATUSES, sqlList, unknownStatusMessage } from '../server/domain/status';

describe('job status vocabulary', () => {
  it('final and live partition every status of the enum', () => {
    expect([...FINAL_STATUSES, ...LIVE_STATUSES].sort()).toEqual([...JOB_STATUSES].sort());
    for (const s of JOB_STATUSES) expect(isFinal(s)).toBe(!isLive(s));
  });

  it('ALL_STATUSES is the enum in its order, and a bad name is told the valid ones', () => {
    expect([...ALL_STATUSES]).toEqual([...JOB_STATUSES]);
    expect(unknownStatusMessage('bogus')).toBe('unknown status bogus: use queued, starting, running, terminating, succeeded, failed, timed_out, killed, lost, cancelled');
    // A long value is echoed cut short (the fuzz found 2,000-character messages).
    const long = unknownStatusMessage('🙂'.repeat(5000));
    expect(long.length).toBeLessThan(250);
    expect(long).toContain('…: use queued');
  });

  it('active and running are the nested live subsets the indexes are built on', () => {
    expect(ACTIVE_STATUSES.every((s) => isLive(s))).toBe(true);
    expect(RUNNING_STATUSES.every((s) => isActive(s))).toBe(true);
    expect(isActive('queued')).toBe(false);
  });

  it('renders SQL text exactly as the partial-index predicates spell it', () => {
    expect(sqlList(RUNNING_STATUSES)).toBe("('running', 'terminating')");
    expect(sqlList(ACTIVE_STATUSES)).toBe("('starting', 'running', 'terminating')");
  });
});
