'use client';

import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';

/**
 * The dashboard's live feed: one EventSource on /api/ui/events per tab. Each event names what
 * changed (`job:<id>:<status>`, `jobs`, `node`, `sweeper`, `*`); the matching TanStack Query keys
 * are invalidated, so the views re-read through their ordinary endpoints. While the stream is up,
 * views do not poll (useViewQuery); when it drops, they poll at their own interval until it is back.
 *
 * mode: `connecting` (first seconds), `live` (stream up), `polling` (stream down: fallback).
 */
export type LiveMode = 'connecting' | 'live' | 'polling';

const LiveContext = createContext<LiveMode>('polling');

export function useLiveMode(): LiveMode {
  return useContext(LiveContext);
}

/** Query-key roots each topic touches. Only queries on screen refetch (TanStack's default). */
const TOPIC_KEYS: Record<string, string[]> = {
  job: ['jobs', 'overview', 'audit', 'users', 'orphans', 'nodes', 'charts'],
  jobs: ['jobs', 'overview', 'audit', 'users', 'charts'],
  node: ['nodes', 'health'],
  sweeper: ['sweepers', 'orphans'],
};

/** Query-key roots the stream keeps fresh; views of any other root keep polling while live. */
export const PUSHED_ROOTS: ReadonlySet<string> = new Set(Object.values(TOPIC_KEYS).flat());

/** Coalesces bursts: at most one round of invalidations per FLUSH_MS. */
const FLUSH_MS = 150;
/** A stream the server refused (429, 503, a lost session) is retried this much later. */
const REOPEN_MS = 15_000;

function invalidate(client: QueryClient, topics: Iterable<string>): void {
  const roots = new Set<string>();
  let all = false;
  for (const t of topics) {
    if (t === '*') all = true;
    const [kind, id] = t.split(':');
    for (const k of TOPIC_KEYS[kind ?? ''] ?? []) roots.add(k);
    if (kind === 'job' && id) {
      void client.invalidateQueries({ queryKey: ['job', id] });
      void client.invalidateQueries({ queryKey: ['job-logs', id] });
    }
  }
  if (all) {
    void client.invalidateQueries();
    return;
  }
  for (const r of roots) void client.invalidateQueries({ queryKey: [r] });
}

export function LiveProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [mode, setMode] = useState<LiveMode>('connecting');
  useEffect(() => {
    // Every browser the dashboard supports has EventSource; without it the views keep polling.
    if (typeof EventSource === 'undefined') return;
    let es: EventSource | null = null;
    let reopen: ReturnType<typeof setTimeout> | null = null;
    let flush: ReturnType<typeof setTimeout> | null = null;
    const pending = new Set<string>();
    const open = () => {
      reopen = null;
      es = new EventSource('/api/ui/events');
      es.addEventListener('hello', () => {
        setMode('live');
        // Anything may have changed while the stream was down: refresh what is on screen.
        void client.invalidateQueries();
      });
      es.onmessage = (ev: MessageEvent<string>) => {
        try {
          for (const t of JSON.parse(ev.data) as string[]) pending.add(t);
        } catch {
          pending.add('*');
        }
        flush ??= setTimeout(() => {
          flush = null;
          const topics = [...pending];
          pending.clear();
          invalidate(client, topics);
        }, FLUSH_MS);
      };
      es.onerror = () => {
        setMode('polling');
        // CONNECTING: the browser retries by itself. CLOSED: the server refused; try again later.
        if (es?.readyState === EventSource.CLOSED) {
          es.close();
          reopen ??= setTimeout(open, REOPEN_MS);
        }
      };
    };
    open();
    return () => {
      es?.close();
      if (reopen) clearTimeout(reopen);
      if (flush) clearTimeout(flush);
    };
  }, [client]);
  return <LiveContext.Provider value={mode}>{children}</LiveContext.Provider>;
}
