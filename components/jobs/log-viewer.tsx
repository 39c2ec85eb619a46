'use client';

import { useQuery } from '@tanstack/react-query';
import { Fragment, useCallback, useEffect, useRef, useState } from 'react';
import type { LogLine } from '@/server/runtime/types';
import { getJson } from '../lib/fetch-json';
import { Button } from '../ui/button';
import { Card } from '../ui/card';
import { EmptyState, ErrorState } from '../ui/states';

/** Lines kept in the page; older ones drop off the top (Download has them all). */
const MAX_LINES = 5000;
/** After the stream drops: poll this often, and try the stream again after this long. */
const POLL_MS = 3000;
const RETRY_STREAM_MS = 10_000;

type Mode = 'connecting' | 'reconnecting' | 'live' | 'polling' | 'ended';

/** Splits `line` around case-insensitive matches of `term`, marking them. */
function highlight(line: string, term: string, onMatch: () => number) {
  if (!term) return line;
  const out: React.ReactNode[] = [];
  const lower = line.toLowerCase();
  const t = term.toLowerCase();
  let i = 0;
  for (let at = lower.indexOf(t); at !== -1; at = lower.indexOf(t, at + t.length)) {
    if (at > i) out.push(line.slice(i, at));
    const n = onMatch();
    out.push(
      <mark key={at} data-match={n} className="rounded-sm bg-amber-300 text-zinc-950">
        {line.slice(at, at + t.length)}
      </mark>,
    );
    i = at + t.length;
  }
  if (i < line.length) out.push(line.slice(i));
  return out;
}

/** 12:04:05.123 in the browser's zone; the full UTC time on hover. */
function stamp(iso: string): string {
  const d = new Date(iso);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/**
 * The job's output through the live log stream (Server-Sent Events, GET /api/ui/jobs/:id/logs/stream):
 * each line as the container writes it, with its time and stream; stderr lines are marked. When
 * the connection drops, the browser reconnects by itself and the server goes on after the last
 * line shown (Last-Event-ID; the view keeps its lines). When the stream is refused before the job
 * ended, the viewer polls the tail (every 3 s) and tries the stream again. Search highlights matches, Timestamps and Wrap toggle, "Jump to end" scrolls down
 * (the view follows new output while it is at the end), Download saves the whole log.
 */
export function LogViewer({ id, live }: { id: string; live: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [dropped, setDropped] = useState(0);
  const [mode, setMode] = useState<Mode>('connecting');
  const [saved, setSaved] = useState(false);
  const [term, setTerm] = useState('');
  const [wrap, setWrap] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const atEnd = useRef(true);

  useEffect(() => {
    const es = new EventSource(`/api/ui/jobs/${encodeURIComponent(id)}/logs/stream`);
    let pending: LogLine[] = [];
    let flush: number | null = null;
    let ended = false;
    let retry: number | null = null;
    let stuck: number | null = null;
    const fallBack = () => {
      es.close();
      setMode('polling');
      retry ??= window.setTimeout(() => setAttempt((a) => a + 1), RETRY_STREAM_MS);
    };
    // Lines come in bursts (the tail first): render at most every 100 ms.
    const schedule = () => {
      flush ??= window.setTimeout(() => {
        flush = null;
        const add = pending;
        pending = [];
        setLines((cur) => {
          const next = cur.concat(add);
          if (next.length <= MAX_LINES) return next;
          setDropped((d) => d + next.length - MAX_LINES);
          return next.slice(next.length - MAX_LINES);
        });
      }, 100);
    };
    es.addEventListener('hello', (e) => {
      const hello = JSON.parse((e as MessageEvent<string>).data) as { resumed?: boolean };
      if (stuck !== null) window.clearTimeout(stuck);
      stuck = null;
      // The browser's own reconnect sends the last line's id: the server goes on after it
      // (`resumed`), else it sends the tail again and the view starts afresh.
      if (!hello.resumed) {
        pending = [];
        setLines([]);
        setDropped(0);
        setSaved(false);
      }
      setMode('live');
    });
    es.addEventListener('line', (e) => {
      pending.push(JSON.parse((e as MessageEvent<string>).data) as LogLine);
      schedule();
    });
    es.addEventListener('source', () => setSaved(true));
    es.addEventListener('end', () => {
      ended = true;
      es.close();
      schedule();
      setMode('ended');
    });
    es.onerror = () => {
      if (ended) return;
      // Dropped: the browser reconnects by itself (in 3 s, with Last-Event-ID); the lines stay.
      if (es.readyState === EventSource.CONNECTING) {
        setMode('reconnecting');
        // Still not back after a while: poll meanwhile, as when refused.
        stuck ??= window.setTimeout(fallBack, RETRY_STREAM_MS);
        return;
      }
      // Refused (429, a restart): poll, and try the stream again in a while.
      fallBack();
    };
    return () => {
      es.close();
      if (flush !== null) window.clearTimeout(flush);
      if (retry !== null) window.clearTimeout(retry);
      if (stuck !== null) window.clearTimeout(stuck);
    };
  }, [id, attempt]);

  const poll = useQuery({
    queryKey: ['job-logs', id],
    queryFn: ({ signal }) => getJson<{ text: string }>(`/api/ui/jobs/${id}/logs`, signal),
    enabled: mode === 'polling',
    refetchInterval: mode === 'polling' && live ? POLL_MS : false,
  });
  const shown: LogLine[] =
    mode === 'polling' && poll.data
      ? poll.data.text
          .replace(/\n$/, '')
          .split('\n')
          .filter((t, i, all) => t !== '' || all.length > 1)
          .map((text) => ({ at: null, stream: null, text }))
      : lines;

  useEffect(() => {
    // Follow: new output keeps the view at the end unless the reader scrolled up.
    if (atEnd.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown.length, timestamps, wrap]);

  const jumpToEnd = useCallback(() => {
    atEnd.current = true;
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, []);

  let matches = 0;
  const count = () => ++matches;
  const stderrLines = shown.reduce((n, l) => n + (l.stream === 'stderr' ? 1 : 0), 0);
  const status =
    mode === 'live' ? (live ? 'Live' : 'Complete') : mode === 'ended' ? (saved ? 'Saved tail (the container is gone)' : 'Complete') : mode === 'polling' ? 'Refreshing every 3 s (live stream unavailable)' : mode === 'reconnecting' ? 'Reconnecting…' : 'Connecting…';
  const loading = mode === 'connecting' || (mode === 'polling' && !poll.data && !poll.isError);

  return (
    <Card
      title="Log"
      actions={
        <span className="flex items-center gap-1.5 text-xs text-zinc-500" data-testid="log-mode" data-mode={mode}>
          <span aria-hidden className={`size-2 rounded-full ${mode === 'live' && live ? 'animate-pulse bg-emerald-500' : mode === 'polling' || mode === 'reconnecting' ? 'bg-amber-500' : 'bg-zinc-400'}`} />
          {status}
        </span>
      }
      bodyClassName="p-0"
    >
      <div className="flex flex-wrap items-center gap-x-3 gap-y-2 border-b border-zinc-100 px-3 py-2">
        <input
          type="search"
          aria-label="Search the log"
          placeholder="Search the log"
          value={term}
          onChange={(e) => setTerm(e.target.value)}
          className="min-w-0 flex-1 basis-40 rounded-md border border-zinc-300 bg-white px-2 py-1 text-sm"
        />
        {term ? (
          <span data-testid="log-matches" role="status" className="text-xs text-zinc-600">
            {/* counted while rendering the lines below */}
            <MatchCount get={() => matches} />
          </span>
        ) : null}
        <label className="flex items-center gap-1 text-xs text-zinc-700">
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> Timestamps
        </label>
        <label className="flex items-center gap-1 text-xs text-zinc-700">
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} /> Wrap
        </label>
        <Button size="sm" variant="ghost" onClick={jumpToEnd}>
          Jump to end
        </Button>
        <a
          href={`/api/ui/jobs/${id}/logs?download=1${timestamps ? '&timestamps=1' : ''}`}
          download
          className="rounded-md px-2 py-1 text-xs font-medium text-indigo-700 hover:bg-indigo-50"
          title="The whole log as a text file"
        >
          Download
        </a>
      </div>
      {stderrLines > 0 || dropped > 0 ? (
        <p className="flex flex-wrap gap-x-3 border-b border-zinc-100 px-3 py-1 text-xs text-zinc-500">
          {stderrLines > 0 ? (
            <span>
              <span aria-hidden className="mr-1 inline-block h-3 w-1 rounded-sm bg-rose-500 align-middle" />
              stderr lines are marked red ({stderrLines})
            </span>
          ) : null}
          {dropped > 0 ? <span>showing the last {MAX_LINES.toLocaleString()} lines; Download has all of them</span> : null}
        </p>
      ) : null}
      {mode === 'polling' && poll.isError ? (
        <div className="p-4">
          <ErrorState message={(poll.error as Error).message} onRetry={() => void poll.refetch()} />
        </div>
      ) : loading ? (
        <p className="p-4 text-sm text-zinc-500">Loading logs…</p>
      ) : shown.length ? (
        <div
          ref={box}
          role="log"
          aria-label="Job output"
          aria-live="off"
          data-testid="log-tail"
          data-wrap={wrap ? 'on' : 'off'}
          data-timestamps={timestamps ? 'on' : 'off'}
          onScroll={(e) => {
            const el = e.currentTarget;
            atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          }}
          className="max-h-[28rem] overflow-auto rounded-b-xl bg-zinc-950 py-2 font-mono text-xs leading-relaxed text-zinc-100"
        >
          {shown.map((l, i) => (
            <Fragment key={i}>
              <div
                data-stream={l.stream ?? 'unknown'}
                className={`border-l-2 px-3 ${l.stream === 'stderr' ? 'border-rose-500 bg-rose-500/10 text-rose-200' : 'border-transparent'} ${wrap ? 'whitespace-pre-wrap break-all' : 'whitespace-pre'}`}
              >
                {timestamps ? (
                  <span data-testid="log-time" className="mr-2 text-zinc-400 select-none" title={l.at ? `${l.at} (UTC)` : 'time not kept for the saved tail'}>
                    {l.at ? stamp(l.at) : '–'}
                  </span>
                ) : null}
                {l.stream === 'stderr' ? <span className="sr-only">stderr: </span> : null}
                {highlight(l.text, term, count)}
                {'\n'}
              </div>
            </Fragment>
          ))}
        </div>
      ) : (
        <EmptyState inset title={live ? 'No output yet' : 'This job left no output'} />
      )}
    </Card>
  );
}

/** The match count, read after the lines rendered (they count as they highlight). */
function MatchCount({ get }: { get: () => number }) {
  const n = get();
  return (
    <>
      {n} match{n === 1 ? '' : 'es'}
    </>
  );
}
