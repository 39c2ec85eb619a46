'use client';

import { useSyncExternalStore } from 'react';
import { formatAbsolute, formatDuration, formatInZone, formatRelative } from '../lib/format';
import { useNow } from '../lib/use-now';

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const noSubscribe = () => () => {};

/** The browser's time zone; 'UTC' on the server and during hydration (so both render the same text). */
export function useTimeZone(): string {
  return useSyncExternalStore(noSubscribe, browserZone, () => 'UTC');
}

/** A time in the browser's zone: "2026-12-03 17:10:05 EST". */
export function useLocalTime(): (iso: string | null | undefined) => string {
  const tz = useTimeZone();
  return (iso) => formatInZone(iso, tz);
}

/** What hovering a time shows: the local time with its zone, and UTC. */
function hoverText(iso: string, tz: string): string {
  const local = formatInZone(iso, tz);
  const utc = formatAbsolute(iso);
  return local === utc ? utc : `${local} · ${utc}`;
}

/** An absolute time in the browser's zone, named ("2026-12-03 17:10:05 EST"); UTC on hover. */
export function AbsTime({ iso, className = '' }: { iso: string | null | undefined; className?: string }) {
  const tz = useTimeZone();
  if (!iso) return <span className="text-zinc-500">—</span>;
  return (
    <time dateTime={iso} title={formatAbsolute(iso)} data-testid="abs-time" className={className}>
      {formatInZone(iso, tz)}
    </time>
  );
}

/** "3m ago" with the exact local time (zone named) and UTC on hover (and for screen readers via <time dateTime>). */
export function RelTime({ iso, className = '' }: { iso: string | null | undefined; className?: string }) {
  const now = useNow();
  const tz = useTimeZone();
  if (!iso) return <span className="text-zinc-500">—</span>;
  return (
    <time dateTime={iso} title={hoverText(iso, tz)} className={className}>
      {formatRelative(iso, now)}
    </time>
  );
}

/**
 * Live time left until a deadline; red when past, amber inside the warning window. With an idle
 * deadline sooner than the deadline (a job that has printed nothing for a while) it counts down
 * to that instead, marked "idle": the job is stopped then unless it prints something.
 */
export function Countdown({ deadline, idleDeadline, warnSeconds = 60, suspended }: { deadline: string | null; idleDeadline?: string | null; warnSeconds?: number; suspended?: boolean }) {
  const now = useNow();
  const tz = useTimeZone();
  if (suspended) return <span className="text-xs font-medium text-zinc-500">timeout suspended</span>;
  if (!deadline) return <span className="text-zinc-500">—</span>;
  const idle = idleDeadline != null && new Date(idleDeadline).getTime() < new Date(deadline).getTime();
  const target = idle ? idleDeadline! : deadline;
  const left = Math.floor((new Date(target).getTime() - now) / 1000);
  const tone = left <= 0 ? 'text-red-600' : left <= warnSeconds ? 'text-amber-700' : 'text-zinc-900';
  const title = idle ? `No output seen since the last check: stopped at ${hoverText(target, tz)} unless it prints something (deadline ${hoverText(deadline, tz)})` : `Deadline ${hoverText(deadline, tz)}`;
  return (
    <time dateTime={target} title={title} data-testid="countdown" data-idle={idle ? 'true' : undefined} className={`font-mono text-sm tabular-nums ${tone}`}>
      {left <= 0 ? `overdue ${formatDuration(-left)}` : formatDuration(left)}
      {idle ? <span className="ml-1 font-sans text-xs font-medium text-amber-700">idle</span> : null}
    </time>
  );
}

/** Time elapsed since a start (live while `until` is null). */
export function Elapsed({ since, until }: { since: string | null; until?: string | null }) {
  const now = useNow();
  if (!since) return <span className="text-zinc-500">—</span>;
  const end = until ? new Date(until).getTime() : now;
  return <span className="font-mono tabular-nums">{formatDuration((end - new Date(since).getTime()) / 1000)}</span>;
}
