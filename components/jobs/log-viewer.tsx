'use client';

import { useQuery } from '@tanstack/react-query';
import { Fragment, useEffect, useRef, useState } from 'react';
import { getJson } from '../lib/fetch-json';
import { Button } from '../ui/button';
import { Card } from '../ui/card';
import { EmptyState, ErrorState } from '../ui/states';

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

/**
 * A job's log: the saved tail, or the live tail while it runs (refreshed when the live stream says
 * the job changed, and every 3 s while it runs). Search highlights matches, wrap toggles, "Jump to
 * end" scrolls down (and the view follows new output while it is at the end), and Download saves
 * the whole log as a file.
 */
export function LogViewer({ id, live }: { id: string; live: boolean }) {
  const q = useQuery({
    queryKey: ['job-logs', id],
    queryFn: ({ signal }) => getJson<{ text: string }>(`/api/ui/jobs/${id}/logs`, signal),
    refetchInterval: live ? 3000 : false,
  });
  const [term, setTerm] = useState('');
  const [wrap, setWrap] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);
  const text = q.data?.text ?? '';
  useEffect(() => {
    // Follow: new output keeps the view at the end unless the reader scrolled up.
    if (atEnd.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [text]);
  let matches = 0;
  const count = () => ++matches;
  const lines = text.split('\n');
  const body = lines.map((l, i) => (
    <Fragment key={i}>
      {highlight(l, term, count)}
      {i < lines.length - 1 ? '\n' : null}
    </Fragment>
  ));
  return (
    <Card
      title="Log"
      actions={<span className="text-xs text-zinc-500">last 64 KiB{live ? ' · following' : ''}</span>}
      bodyClassName="p-0"
    >
      <div className="flex flex-wrap items-center gap-2 border-b border-zinc-100 px-3 py-2">
        <input
          type="search"
          aria-label="Search the log"
          placeholder="Search the log"
          value={term}
          onChange={(e) => setTerm(e.target.value)}
          className="min-w-0 flex-1 rounded-md border border-zinc-300 px-2 py-1 text-sm"
        />
        {term ? (
          <span data-testid="log-matches" className="text-xs text-zinc-600">
            {matches} match{matches === 1 ? '' : 'es'}
          </span>
        ) : null}
        <label className="flex items-center gap-1 text-xs text-zinc-700">
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} /> Wrap
        </label>
        <Button
          size="sm"
          variant="ghost"
          onClick={() => {
            atEnd.current = true;
            if (box.current) box.current.scrollTop = box.current.scrollHeight;
          }}
        >
          Jump to end
        </Button>
        <a href={`/api/ui/jobs/${id}/logs?download=1`} download className="rounded-md px-2 py-1 text-xs font-medium text-indigo-700 hover:bg-indigo-50">
          Download
        </a>
      </div>
      {q.isError ? (
        <div className="p-4">
          <ErrorState message={(q.error as Error).message} onRetry={() => void q.refetch()} />
        </div>
      ) : !q.data ? (
        <p className="p-4 text-sm text-zinc-500">Loading logs…</p>
      ) : text ? (
        <pre
          ref={box}
          data-testid="log-tail"
          data-wrap={wrap ? 'on' : 'off'}
          onScroll={(e) => {
            const el = e.currentTarget;
            atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          }}
          className={`max-h-[28rem] overflow-auto rounded-b-xl bg-zinc-950 p-4 font-mono text-xs leading-relaxed text-zinc-100 ${wrap ? 'whitespace-pre-wrap break-all' : 'whitespace-pre'}`}
        >
          {body}
        </pre>
      ) : (
        <EmptyState inset title={live ? 'No output yet' : 'This job left no output'} />
      )}
    </Card>
  );
}
