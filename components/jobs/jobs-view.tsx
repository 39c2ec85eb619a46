'use client';

import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useState } from 'react';
import { useMe } from '../lib/me';
import type { JobRow } from '@/server/dashboard/job-lists';
import type { JobsData } from '@/server/dashboard/loaders';
import { FINAL_STATUSES } from '@/server/domain/status';
import { waitInWords } from '@/server/domain/vocabulary';
import { Term } from '../ui/term';
import { formatLimit, formatNumber } from '../lib/format';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, stickyAction, td } from '../ui/card';
import { Checkbox, SelectField, TextField } from '../ui/field';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { Badge, StatusChip } from '../ui/status';
import { Countdown, Elapsed, RelTime } from '../ui/time';
import { BulkBar } from './bulk-actions';
import { JobActions } from './job-actions';
import { Labels } from './labels';

const TABS = [
  { key: 'running', label: 'Running' },
  { key: 'queued', label: 'Queued' },
  { key: 'timed_out', label: 'Timed out' },
  { key: 'lost', label: 'Lost' },
  { key: 'finished', label: 'Finished' },
] as const;
type Tab = (typeof TABS)[number]['key'];

const SORTS: Record<Tab, { value: string; label: string }[]> = {
  running: [
    { value: 'deadline', label: 'Deadline' },
    { value: 'started', label: 'Started' },
    { value: 'name', label: 'Name' },
  ],
  queued: [
    { value: 'queued', label: 'Queued' },
    { value: 'name', label: 'Name' },
  ],
  timed_out: [
    { value: 'finished', label: 'Finished' },
    { value: 'queued', label: 'Queued' },
  ],
  lost: [
    { value: 'finished', label: 'Finished' },
    { value: 'queued', label: 'Queued' },
  ],
  finished: [
    { value: 'finished', label: 'Finished' },
    { value: 'queued', label: 'Queued' },
  ],
};

const KEYS = ['tab', 'q', 'user', 'status', 'sort', 'dir', 'warned', 'page'] as const;

function paramsFrom(sp: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of KEYS) {
    const v = sp.get(k);
    if (v) out[k] = v;
  }
  return out;
}

export function JobsView({ initial, initialError }: { initial: JobsData | null; initialError?: string | null }) {
  const sp = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const params = paramsFrom(new URLSearchParams(sp.toString()));
  const qs = new URLSearchParams(params).toString();
  const tab = (TABS.some((t) => t.key === params.tab) ? params.tab : 'running') as Tab;
  const q = useViewQuery(['jobs', qs], `/api/ui/jobs?${qs}`, initial, { refetchInterval: 3000, keepPrevious: true });
  const data = q.data;
  const go = (next: Record<string, string | undefined>) => {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...params, ...next })) if (v) merged[k] = v;
    router.push(`${pathname}?${new URLSearchParams(merged).toString()}`, { scroll: false });
  };
  const tabHref = (t: Tab) => `${pathname}?tab=${t}`;
  const me = useMe();
  // Row selection (operators, live tabs): ids on the current page, forgotten when the filter or page changes.
  const [selection, setSelection] = useState<{ qs: string; ids: ReadonlySet<string> }>({ qs, ids: new Set() });
  const selectable = me.can('operator') && (tab === 'running' || tab === 'queued');
  const ids = selection.qs === qs ? selection.ids : new Set<string>();
  const selectedRows = selectable ? (data?.rows ?? []).filter((r) => ids.has(r.id)) : [];
  const setIds = (next: ReadonlySet<string>) => setSelection({ qs, ids: next });
  const exportQs = new URLSearchParams(Object.entries(params).filter(([k]) => k !== 'page')).toString();

  return (
    <div>
      <PageHeader title="Jobs" description="Every job by state. Filters, sort and pages are applied on the server." actions={
          <>
            <a
              href={`/api/ui/jobs/export?${exportQs}`}
              download
              title="Every job of this tab and filter, as CSV (at most 10,000 rows)"
              className="inline-flex h-7 items-center rounded-md px-2.5 text-xs font-medium text-zinc-800 ring-1 ring-inset ring-zinc-300 hover:bg-zinc-50 focus-visible:outline-2 focus-visible:outline-indigo-600"
            >
              Export CSV
            </a>
            <LiveDot ok={!q.isError} />
          </>
        }
      />
      <div role="tablist" aria-label="Job states" className="mb-4 flex gap-1 overflow-x-auto border-b border-zinc-200">
        {TABS.map((t) => {
          const active = t.key === tab;
          const c = data?.counts[t.key];
          return (
            <Link
              key={t.key}
              href={tabHref(t.key)}
              role="tab"
              aria-selected={active}
              scroll={false}
              className={`-mb-px inline-flex items-center gap-2 border-b-2 px-3 py-2 text-sm font-medium whitespace-nowrap focus-visible:outline-2 focus-visible:outline-indigo-600 ${
                active ? 'border-indigo-600 text-indigo-700' : 'border-transparent text-zinc-600 hover:border-zinc-300 hover:text-zinc-900'
              }`}
            >
              {t.label}
              {c ? (
                <span aria-hidden className={`rounded-full px-1.5 text-xs tabular-nums ${active ? 'bg-indigo-100 text-indigo-700' : 'bg-zinc-100 text-zinc-600'}`}>
                  {formatNumber(c.n)}
                  {c.capped ? '+' : ''}
                </span>
              ) : null}
            </Link>
          );
        })}
      </div>
      <div role="tabpanel" aria-label={TABS.find((t) => t.key === tab)!.label}>
        <Filters key={qs} tab={tab} params={params} onApply={go} />
        {!data ? (
          <QueryFallback query={q} initialError={initialError} />
        ) : (
          <Card bodyClassName="" className={q.isPlaceholderData ? 'opacity-70 transition-opacity' : ''}>
            {q.isError ? (
              <div className="border-b border-amber-200 bg-amber-50 px-4 py-2 text-xs text-amber-800">Refresh failed: {(q.error as Error).message}. Showing the last data.</div>
            ) : null}
            <p className="sr-only" aria-live="polite">
              {data.total != null ? `${data.total} ${tab} jobs` : `${data.rows.length} jobs on this page`}
            </p>
            <BulkBar selected={selectedRows} onClear={() => setIds(new Set())} />
            {data.rows.length === 0 ? (
              <EmptyState inset title={emptyTitle(tab, params)}>{params.q || params.user ? 'Try clearing the filters.' : null}</EmptyState>
            ) : (
              <JobsTable tab={tab} rows={data.rows} selection={selectable ? { ids, set: setIds } : null} />
            )}
            <Pager data={data} onPage={(p) => go({ page: p > 1 ? String(p) : undefined })} />
          </Card>
        )}
      </div>
    </div>
  );
}

function emptyTitle(tab: Tab, p: Record<string, string>): string {
  if (p.q || p.user || p.warned || p.status) return 'No jobs match these filters';
  return {
    running: 'No jobs are running',
    queued: 'The queue is empty',
    timed_out: 'No job has timed out',
    lost: 'No lost jobs',
    finished: 'No finished jobs yet',
  }[tab];
}

function Filters({ tab, params, onApply }: { tab: Tab; params: Record<string, string>; onApply: (p: Record<string, string | undefined>) => void }) {
  const [search, setSearch] = useState(params.q ?? '');
  const [user, setUser] = useState(params.user ?? '');
  return (
    <form
      role="search"
      className="mb-4 flex flex-wrap items-end gap-3"
      onSubmit={(e) => {
        e.preventDefault();
        onApply({ q: search.trim() || undefined, user: user.trim() || undefined, page: undefined });
      }}
    >
      <TextField label="Search name, image or id" className="w-64" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="e.g. nightly-backup" />
      <TextField label="User (name or id)" className="w-48" value={user} onChange={(e) => setUser(e.target.value)} />
      {tab === 'finished' ? (
        <SelectField label="Status" className="w-36" value={params.status ?? ''} onChange={(e) => onApply({ status: e.target.value || undefined, page: undefined })}>
          <option value="">Any final state</option>
          {FINAL_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s.replace('_', ' ')}
            </option>
          ))}
        </SelectField>
      ) : null}
      <SelectField label="Sort by" className="w-32" value={params.sort ?? SORTS[tab][0]!.value} onChange={(e) => onApply({ sort: e.target.value, page: undefined })}>
        {SORTS[tab].map((s) => (
          <option key={s.value} value={s.value}>
            {s.label}
          </option>
        ))}
      </SelectField>
      <SelectField label="Order" className="w-32" value={params.dir ?? ''} onChange={(e) => onApply({ dir: e.target.value || undefined, page: undefined })}>
        <option value="">Default</option>
        <option value="asc">Ascending</option>
        <option value="desc">Descending</option>
      </SelectField>
      {tab === 'running' ? (
        <div className="pb-1.5">
          <Checkbox label="Warned only" checked={params.warned === '1'} onChange={(e) => onApply({ warned: e.target.checked ? '1' : undefined, page: undefined })} />
        </div>
      ) : null}
      <Button type="submit" variant="primary">
        Apply
      </Button>
      {params.q || params.user || params.status || params.sort || params.dir || params.warned ? (
        <Button variant="ghost" onClick={() => onApply({ q: undefined, user: undefined, status: undefined, sort: undefined, dir: undefined, warned: undefined, page: undefined })}>
          Clear filters
        </Button>
      ) : null}
    </form>
  );
}

function JobCell({ r }: { r: JobRow }) {
  return (
    <div className="min-w-0 max-w-[28rem]">
      <Link href={`/jobs/${r.id}`} className="block truncate font-medium text-zinc-900 hover:text-indigo-700 hover:underline focus-visible:outline-2 focus-visible:outline-indigo-600" title={r.name ?? r.id}>
        {r.name ?? <span className="font-mono text-zinc-600">{r.id.slice(0, 8)}</span>}
      </Link>
      <div className="mt-0.5 flex min-w-0 flex-wrap items-center gap-1.5 text-xs text-zinc-500">
        <span className="font-mono">{r.id.slice(0, 8)}</span>
        <span className="truncate" title={r.image}>
          {r.image}
        </span>
        {r.attempt > 1 ? <Badge title="Retry attempt">attempt {r.attempt}</Badge> : null}
        <Labels labels={r.labels} max={3} />
      </div>
    </div>
  );
}

function UserCell({ r }: { r: JobRow }) {
  return (
    <Link href={`/jobs?tab=running&user=${encodeURIComponent(r.userName ?? r.userId)}`} className="text-zinc-700 hover:underline">
      {r.userName ?? r.userId.slice(0, 8)}
    </Link>
  );
}

function TimeoutCell({ r }: { r: JobRow }) {
  return (
    <span className="whitespace-nowrap" title={`Timeout set by the ${r.timeoutSource} rule${r.extendedSeconds ? `, extended by ${r.extendedSeconds}s` : ''}`}>
      {formatLimit(r.timeoutSeconds)} <span className="text-xs text-zinc-500">({r.timeoutSource})</span>
      {r.extendedSeconds ? <span className="ml-1 text-xs text-indigo-700">+{formatLimit(r.extendedSeconds)}</span> : null}
    </span>
  );
}

/** The columns between Status and the actions, by tab. */
const TAB_COLUMNS: Record<Tab, readonly string[]> = {
  running: ['Started', 'Time left', 'Timeout'],
  queued: ['Queued', 'Place', 'Waiting because', 'Timeout'],
  timed_out: ['Finished', 'Ran', 'Reason'],
  lost: ['Finished', 'Ran', 'Reason'],
  finished: ['Finished', 'Ran', 'Reason'],
};

function JobsTable({ tab, rows, selection }: { tab: Tab; rows: JobRow[]; selection: { ids: ReadonlySet<string>; set: (ids: ReadonlySet<string>) => void } | null }) {
  const live = tab === 'running' || tab === 'queued';
  const all = selection != null && rows.length > 0 && rows.every((r) => selection.ids.has(r.id));
  const some = selection != null && rows.some((r) => selection.ids.has(r.id));
  const toggle = (id: string, on: boolean) => {
    if (!selection) return;
    const next = new Set(selection.ids);
    if (on) next.add(id);
    else next.delete(id);
    selection.set(next);
  };
  return (
    <Table label={`${tab} jobs`}>
      <THead
        columns={['Job', 'User', 'Status', ...TAB_COLUMNS[tab]]}
        actions={live}
        select={
          selection ? (
            <input
              type="checkbox"
              aria-label="Select all jobs on this page"
              className="size-4 rounded border-zinc-300 accent-indigo-600"
              checked={all}
              ref={(el) => {
                if (el) el.indeterminate = some && !all;
              }}
              onChange={(e) => selection.set(e.target.checked ? new Set(rows.map((r) => r.id)) : new Set())}
            />
          ) : undefined
        }
      />
      <TBody>
        {rows.map((r) => (
          <tr key={r.id} data-job-id={r.id} className="hover:bg-zinc-50/70">
            {selection ? (
              <td className={`${td} w-8 pr-0`}>
                <input type="checkbox" aria-label={`Select job ${r.name ?? r.id.slice(0, 8)}`} className="size-4 rounded border-zinc-300 accent-indigo-600" checked={selection.ids.has(r.id)} onChange={(e) => toggle(r.id, e.target.checked)} />
              </td>
            ) : null}
            <td className={td}>
              <JobCell r={r} />
            </td>
            <td className={td}>
              <UserCell r={r} />
            </td>
            <td className={td}>
              <div className="flex items-center gap-1.5">
                <StatusChip status={r.status} />
                {r.warnedAt && (r.status === 'running' || r.status === 'terminating') ? (
                  <Badge tone="amber" title={`Deadline warning sent`}>
                    warned
                  </Badge>
                ) : null}
              </div>
            </td>
            {tab === 'running' ? (
              <>
                <td className={`${td} whitespace-nowrap`}>
                  <RelTime iso={r.startedAt} />
                </td>
                <td className={`${td} whitespace-nowrap`}>
                  {r.status === 'terminating' ? <span className="text-xs font-medium text-amber-700">stopping…</span> : <Countdown deadline={r.deadlineAt} idleDeadline={r.status === 'running' ? r.idleDeadlineAt : null} suspended={r.timeoutSuspended} />}
                </td>
                <td className={td}>
                  <TimeoutCell r={r} />
                </td>
              </>
            ) : tab === 'queued' ? (
              <>
                <td className={`${td} whitespace-nowrap`}>
                  <RelTime iso={r.queuedAt} />
                </td>
                <td className={`${td} whitespace-nowrap`} title="Place among this user's queued jobs (1 = the next to start)">
                  {r.queuePosition != null ? `#${r.queuePosition}` : '—'}
                </td>
                <td className={`${td} max-w-xs text-xs text-zinc-600`}>
                  {r.waitCode ? <Term code={r.waitCode} words={waitInWords(r.waitCode)} className="mr-1.5 rounded bg-zinc-100 px-1.5 py-0.5 font-medium text-zinc-800" /> : null}
                  {r.waitReason ?? (r.status === 'starting' ? 'Container starting' : 'Waiting for a free slot')}
                </td>
                <td className={td}>
                  <TimeoutCell r={r} />
                </td>
              </>
            ) : (
              <>
                <td className={`${td} whitespace-nowrap`}>
                  <RelTime iso={r.finishedAt} />
                </td>
                <td className={`${td} whitespace-nowrap`}>{r.startedAt ? <Elapsed since={r.startedAt} until={r.finishedAt} /> : <span className="text-zinc-500">never started</span>}</td>
                <td className={`${td} max-w-md`}>
                  <p className="line-clamp-2 text-xs text-zinc-600" title={r.reason ?? ''}>
                    {r.reason ?? (r.exitCode != null ? `exit code ${r.exitCode}` : '—')}
                  </p>
                </td>
              </>
            )}
            {live ? (
              <td className={`${td} ${stickyAction} text-right`}>
                <JobActions job={r} />
              </td>
            ) : null}
          </tr>
        ))}
      </TBody>
    </Table>
  );
}

function Pager({ data, onPage }: { data: JobsData; onPage: (p: number) => void }) {
  const from = (data.page - 1) * data.limit + (data.rows.length ? 1 : 0);
  const to = (data.page - 1) * data.limit + data.rows.length;
  const pages = data.total != null ? Math.max(1, Math.ceil(data.total / data.limit)) : null;
  if (data.page === 1 && !data.hasMore) {
    const n = data.total ?? data.rows.length;
    return data.rows.length ? <p className="border-t border-zinc-100 px-4 py-2 text-xs text-zinc-500">{`${formatNumber(n)} job${n === 1 ? '' : 's'}`}</p> : null;
  }
  return (
    <nav aria-label="Pages" className="flex items-center justify-between gap-3 border-t border-zinc-100 px-4 py-2 text-xs text-zinc-600">
      <span>
        {formatNumber(from)}–{formatNumber(to)}
        {data.total != null ? ` of ${formatNumber(data.total)}` : ''}
        {pages ? ` · page ${data.page} of ${formatNumber(pages)}` : ` · page ${data.page}`}
      </span>
      <span className="flex gap-2">
        <Button size="sm" disabled={data.page <= 1} onClick={() => onPage(data.page - 1)}>
          Previous
        </Button>
        <Button size="sm" disabled={!data.hasMore || data.page >= 200} onClick={() => onPage(data.page + 1)}>
          Next
        </Button>
      </span>
    </nav>
  );
}

