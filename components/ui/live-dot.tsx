'use client';

import { useLiveMode } from '../lib/live';

/**
 * The "Live" dot: green `Live` while the server pushes changes (Server-Sent Events), amber
 * `Polling` while the stream is down and views refresh on a timer, red `Reconnecting` when the
 * last refresh failed.
 */
export function LiveDot({ ok = true, label }: { ok?: boolean; label?: string }) {
  const mode = useLiveMode();
  const state = !ok ? 'error' : mode === 'live' ? 'live' : mode === 'connecting' ? 'connecting' : 'polling';
  const look = {
    live: { dot: 'bg-emerald-500', text: 'Live', title: 'Live: the server pushes every change as it happens' },
    connecting: { dot: 'bg-zinc-400', text: 'Connecting', title: 'Connecting to the live stream' },
    polling: { dot: 'bg-amber-500', text: 'Polling', title: 'The live stream is down: refreshing every few seconds until it is back' },
    error: { dot: 'bg-red-500', text: 'Reconnecting', title: 'The last refresh failed; retrying' },
  }[state];
  return (
    <span className="inline-flex items-center gap-1.5 text-xs text-zinc-500" title={look.title} data-testid="live-dot" data-mode={state}>
      <span aria-hidden className={`size-2 rounded-full ${look.dot}`} />
      {label ?? look.text}
    </span>
  );
}
