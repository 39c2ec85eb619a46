'use client';

import Link from 'next/link';
import type { OverviewData } from '@/server/dashboard/loaders';
import { formatNumber } from '../lib/format';
import { useViewQuery } from '../lib/use-view-query';
import { Card, PageHeader } from '../ui/card';
import { EmptyState, ErrorState, LiveDot, Loading } from '../ui/states';
import { Badge, StatusChip } from '../ui/status';
import { Countdown, RelTime } from '../ui/time';
import dynamic from 'next/dynamic';

// recharts is ~95 KB gzip: load it after the numbers, so the Overview paints first.
const Charts = dynamic(() => import('./charts').then((m) => m.Charts), {
  ssr: false,
  loading: () => <div aria-hidden className="h-[23rem] animate-pulse rounded-xl bg-white ring-1 ring-zinc-200" />,
});

const LIVE_CARDS = [
  { key: 'running', label: 'Running', tab: 'running', tone: 'text-blue-700' },
  { key: 'terminating', label: 'Terminating', tab: 'running', tone: 'text-amber-700' },
  { key: 'starting', label: 'Starting', tab: 'queued', tone: 'text-sky-700' },
  { key: 'queued', label: 'Queued', tab: 'queued', tone: 'text-zinc-800' },
] as const;
const FINAL_CARDS = [
  { key: 'succeeded', label: 'Succeeded', tone: 'text-emerald-700' },
  { key: 'failed', label: 'Failed', tone: 'text-rose-700' },
  { key: 'timed_out', label: 'Timed out', tone: 'text-orange-700' },
  { key: 'killed', label: 'Killed', tone: 'text-red-700' },
  { key: 'lost', label: 'Lost', tone: 'text-fuchsia-700' },
  { key: 'cancelled', label: 'Cancelled', tone: 'text-zinc-600' },
] as const;

export function OverviewView({ initial, initialError }: { initial: OverviewData | null; initialError?: string | null }) {
  const q = useViewQuery(['overview'], '/api/ui/overview', initial, { refetchInterval: 5000 });
  const d = q.data;
  if (!d) return q.isLoading && !initialError ? <Loading /> : <ErrorState message={initialError ?? (q.error as Error | null)?.message ?? 'Unknown error'} onRetry={() => void q.refetch()} />;
  return (
    <div className="space-y-5">
      <PageHeader title="Overview" description={d.counts.totalEstimate ? `About ${formatNumber(d.counts.totalEstimate)} jobs in history.` : 'No jobs yet.'} actions={<LiveDot ok={!q.isError} />} />
      <div className="grid gap-3 lg:grid-cols-[2fr_3fr]">
        <section aria-labelledby="now-h">
          <h2 id="now-h" className="mb-1.5 text-xs font-semibold tracking-wide text-zinc-500 uppercase">
            Now
          </h2>
          <div className="grid grid-cols-2 gap-3 sm:grid-cols-4">
            {LIVE_CARDS.map((c) => (
              <Link key={c.key} href={`/jobs?tab=${c.tab}`} className="rounded-xl bg-white px-4 py-3 shadow-sm ring-1 ring-zinc-200 hover:ring-indigo-300 focus-visible:outline-2 focus-visible:outline-indigo-600">
                <p className="text-xs font-medium text-zinc-500">{c.label}</p>
                <p className={`mt-1 text-2xl font-semibold tabular-nums ${c.tone}`}>{formatNumber(d.counts.live[c.key])}</p>
              </Link>
            ))}
          </div>
        </section>
        <section aria-labelledby="day-h">
          <h2 id="day-h" className="mb-1.5 text-xs font-semibold tracking-wide text-zinc-500 uppercase">
            Finished in the last 24 h
          </h2>
          <div className="grid grid-cols-3 gap-3 sm:grid-cols-6">
            {FINAL_CARDS.map((c) => (
              <Link
                key={c.key}
                href={c.key === 'timed_out' ? '/jobs?tab=timed_out' : c.key === 'lost' ? '/jobs?tab=lost' : `/jobs?tab=finished&status=${c.key}`}
                className="rounded-xl bg-white px-4 py-3 shadow-sm ring-1 ring-zinc-200 hover:ring-indigo-300 focus-visible:outline-2 focus-visible:outline-indigo-600"
              >
                <p className="truncate text-xs font-medium text-zinc-500">{c.label}</p>
                <p className={`mt-1 text-2xl font-semibold tabular-nums ${c.tone}`}>{formatNumber(d.counts.last24h[c.key])}</p>
              </Link>
            ))}
          </div>
        </section>
      </div>

      <Charts activity={d.activity} />

      <div className="grid gap-4 xl:grid-cols-2">
        <Card title="Nearing their deadline" actions={<Link href="/jobs?tab=running" className="text-xs font-medium text-indigo-700 hover:underline">All running</Link>} bodyClassName="p-0">
          {d.nearing.length === 0 ? (
            <EmptyState inset title="No jobs are running" />
          ) : (
            <ul className="divide-y divide-zinc-100">
              {d.nearing.map((j) => (
                <li key={j.id} className="flex items-center gap-3 px-4 py-2 text-sm">
                  <Link href={`/jobs/${j.id}`} className="min-w-0 flex-1 truncate font-medium text-zinc-900 hover:text-indigo-700 hover:underline">
                    {j.name ?? j.id.slice(0, 8)}
                  </Link>
                  <span className="text-xs text-zinc-500">{j.userName}</span>
                  {j.warnedAt ? <Badge tone="amber">warned</Badge> : null}
                  <Countdown deadline={j.deadlineAt} />
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="Recent timeouts and kills" actions={<Link href="/jobs?tab=timed_out" className="text-xs font-medium text-indigo-700 hover:underline">All timed out</Link>} bodyClassName="p-0">
          {d.recent.length === 0 ? (
            <EmptyState inset title="No timeouts or kills in the last 24 h" />
          ) : (
            <ul className="divide-y divide-zinc-100">
              {d.recent.map((j) => (
                <li key={j.id} className="flex items-center gap-3 px-4 py-2 text-sm">
                  <StatusChip status={j.status} />
                  <div className="min-w-0 flex-1">
                    <Link href={`/jobs/${j.id}`} className="block truncate font-medium text-zinc-900 hover:text-indigo-700 hover:underline">
                      {j.name ?? j.id.slice(0, 8)}
                    </Link>
                    <p className="truncate text-xs text-zinc-500" title={j.reason ?? ''}>
                      {j.reason}
                    </p>
                  </div>
                  <RelTime iso={j.finishedAt} className="text-xs text-zinc-500" />
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>

      <div className="grid gap-4 xl:grid-cols-2">
        <Card title="Sweepers" actions={<Link href="/sweepers" className="text-xs font-medium text-indigo-700 hover:underline">Details</Link>} bodyClassName="p-0">
          <ul className="divide-y divide-zinc-100">
            {d.sweepers.map((s) => {
              const ok = s.lastRun && !s.lastRun.error && s.errorsLastHour === 0;
              return (
                <li key={s.name} className="flex items-center gap-3 px-4 py-2.5 text-sm">
                  <span aria-hidden className={`size-2 rounded-full ${!s.lastRun ? 'bg-zinc-300' : ok ? 'bg-emerald-500' : 'bg-amber-500'}`} />
                  <span className="w-20 font-medium">{s.name}</span>
                  <span className="flex-1 text-xs text-zinc-600">
                    {s.lastRun ? (
                      <>
                        last run <RelTime iso={s.lastRun.startedAt} /> · {s.runsLastHour} runs, {s.errorsLastHour} errors in the last hour
                        {s.lastRun.dryRun ? ' · dry-run' : ''}
                      </>
                    ) : (
                      'never ran'
                    )}
                  </span>
                  {s.lastRun?.error ? <span className="max-w-[40%] truncate text-xs text-red-700" title={s.lastRun.error}>{s.lastRun.error}</span> : null}
                </li>
              );
            })}
          </ul>
        </Card>
        <Card
          title="Docker and workers"
          bodyClassName="p-0"
          actions={
            <Link href="/nodes" className="text-xs font-medium text-indigo-700 hover:underline">
              Nodes: capacity, drain
            </Link>
          }
        >
          <ul className="divide-y divide-zinc-100">
            <li className="flex items-center gap-3 px-4 py-2.5 text-sm">
              <span aria-hidden className={`size-2 rounded-full ${d.docker.ok ? 'bg-emerald-500' : 'bg-red-500'}`} />
              <span className="w-20 font-medium">Docker</span>
              <span className="flex-1 text-xs text-zinc-600">{d.docker.ok ? 'Engine reachable' : `Unreachable: ${d.docker.error ?? 'no answer'}`}</span>
            </li>
            {d.workers.length === 0 ? (
              <li className="px-4 py-2.5 text-xs text-zinc-500">No worker has reported a heartbeat.</li>
            ) : (
              d.workers.map((w) => (
                <li key={w.id} className="flex items-center gap-3 px-4 py-2.5 text-sm">
                  <span aria-hidden className={`size-2 rounded-full ${w.stale ? 'bg-amber-500' : 'bg-emerald-500'}`} />
                  <span className="w-20 truncate font-medium" title={w.id}>
                    {w.id}
                  </span>
                  <span className="flex-1 text-xs text-zinc-600">
                    heartbeat <RelTime iso={w.heartbeatAt} />
                    {w.stale ? ' · stale' : ''} · Docker {w.dockerOk ? 'ok' : 'unreachable'}
                  </span>
                </li>
              ))
            )}
          </ul>
        </Card>
      </div>
    </div>
  );
}
