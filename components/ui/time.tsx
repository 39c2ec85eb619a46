'use client';

import { formatAbsolute, formatDuration, formatRelative } from '../lib/format';
import { useNow } from '../lib/use-now';

/** "3m ago" with the exact UTC time on hover (and for screen readers via <time dateTime>). */
export function RelTime({ iso, className = '' }: { iso: string | null | undefined; className?: string }) {
  const now = useNow();
  if (!iso) return <span className="text-zinc-400">—</span>;
  return (
    <time dateTime={iso} title={formatAbsolute(iso)} className={className}>
      {formatRelative(iso, now)}
    </time>
  );
}

/** Live time left until a deadline; red when past, amber inside the warning window. */
export function Countdown({ deadline, warnSeconds = 60, suspended }: { deadline: string | null; warnSeconds?: number; suspended?: boolean }) {
  const now = useNow();
  if (suspended) return <span className="text-xs font-medium text-zinc-500">timeout suspended</span>;
  if (!deadline) return <span className="text-zinc-400">—</span>;
  const left = Math.floor((new Date(deadline).getTime() - now) / 1000);
  const tone = left <= 0 ? 'text-red-600' : left <= warnSeconds ? 'text-amber-700' : 'text-zinc-900';
  return (
    <time dateTime={deadline} title={`Deadline ${formatAbsolute(deadline)}`} data-testid="countdown" className={`font-mono text-sm tabular-nums ${tone}`}>
      {left <= 0 ? `overdue ${formatDuration(-left)}` : formatDuration(left)}
    </time>
  );
}

/** Time elapsed since a start (live while `until` is null). */
export function Elapsed({ since, until }: { since: string | null; until?: string | null }) {
  const now = useNow();
  if (!since) return <span className="text-zinc-400">—</span>;
  const end = until ? new Date(until).getTime() : now;
  return <span className="font-mono tabular-nums">{formatDuration((end - new Date(since).getTime()) / 1000)}</span>;
}
