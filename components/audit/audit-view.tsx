'use client';

import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useId, useState } from 'react';
import type { AuditData } from '@/server/dashboard/loaders';
import { formatAbsolute } from '../lib/format';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, td } from '../ui/card';
import { TextField } from '../ui/field';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { Badge } from '../ui/status';
import { RelTime } from '../ui/time';

const KEYS = ['actor', 'action', 'job', 'q', 'cursor'] as const;

export function AuditView({ initial, initialError }: { initial: AuditData | null; initialError?: string | null }) {
  const sp = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const params: Record<string, string> = {};
  for (const k of KEYS) {
    const v = sp.get(k);
    if (v) params[k] = v;
  }
  const qs = new URLSearchParams(params).toString();
  const q = useViewQuery(['audit', qs], `/api/ui/audit?${qs}`, initial, { refetchInterval: params.cursor ? false : 5000, keepPrevious: true });
  const d = q.data;
  const [f, setF] = useState({ actor: params.actor ?? '', action: params.action ?? '', job: params.job ?? '', q: params.q ?? '' });
  const listId = useId();
  const apply = (next: Record<string, string>) => {
    const clean = Object.fromEntries(Object.entries(next).filter(([, v]) => v.trim()).map(([k, v]) => [k, v.trim()]));
    router.push(`${pathname}?${new URLSearchParams(clean).toString()}`, { scroll: false });
  };
  return (
    <div>
      <PageHeader title="Audit" description="Every state change and Docker side effect, newest first. Append-only." actions={<LiveDot ok={!q.isError} />} />
      <form
        role="search"
        className="mb-4 flex flex-wrap items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          apply(f);
        }}
      >
        <TextField label="Actor" className="w-56" placeholder="operator:ann@example.com" value={f.actor} onChange={(e) => setF({ ...f, actor: e.target.value })} />
        <TextField label="Action" className="w-48" placeholder="job.kill or job.*" list={listId} value={f.action} onChange={(e) => setF({ ...f, action: e.target.value })} />
        <datalist id={listId}>{d?.knownActions.map((a) => <option key={a} value={a} />)}</datalist>
        <TextField label="Job id" className="w-80" value={f.job} onChange={(e) => setF({ ...f, job: e.target.value })} />
        <TextField label="Search reason, target, error" className="w-64" value={f.q} onChange={(e) => setF({ ...f, q: e.target.value })} />
        <Button type="submit" variant="primary">
          Filter
        </Button>
        {Object.keys(params).length ? (
          <Button
            variant="ghost"
            onClick={() => {
              setF({ actor: '', action: '', job: '', q: '' });
              apply({});
            }}
          >
            Clear filters
          </Button>
        ) : null}
      </form>
      {!d ? (
        <QueryFallback query={q} initialError={initialError} />
      ) : d.events.length === 0 ? (
        <EmptyState title="No audit events match" />
      ) : (
        <Card bodyClassName="">
          <Table label="Audit events">
            <THead columns={['When', 'Actor', 'Action', 'Target', 'Reason', 'Details']} />
            <TBody>
              {d.events.map((e) => (
                <tr key={e.id} className="align-top">
                  <td className={`${td} whitespace-nowrap`}>
                    <RelTime iso={e.at} />
                    <div className="text-[11px] text-zinc-500">{formatAbsolute(e.at)}</div>
                  </td>
                  <td className={`${td} max-w-[14rem] truncate text-xs`} title={e.actor}>
                    <button type="button" className="rounded text-left hover:underline focus-visible:outline-2 focus-visible:outline-indigo-600" onClick={() => { setF({ ...f, actor: e.actor }); apply({ ...params, cursor: '', actor: e.actor }); }}>
                      {e.actor}
                    </button>
                  </td>
                  <td className={`${td} whitespace-nowrap`}>
                    <span className="font-mono text-xs">{e.action}</span> {!e.success ? <Badge tone="red">failed</Badge> : null}
                  </td>
                  <td className={`${td} whitespace-nowrap text-xs`}>
                    {e.targetType === 'job' && e.targetId ? (
                      <Link href={`/jobs/${e.targetId}`} className="font-mono text-indigo-700 hover:underline">
                        job {e.targetId.slice(0, 8)}
                      </Link>
                    ) : (
                      <span>
                        {e.targetType} <span className="font-mono">{e.targetId?.slice(0, 40)}</span>
                      </span>
                    )}
                  </td>
                  <td className={`${td} max-w-md text-xs`}>
                    <p className="break-words">{e.reason ?? ''}</p>
                    {e.error ? <p className="break-words text-red-700">{e.error}</p> : null}
                  </td>
                  <td className={`${td} text-xs`}>
                    {Object.keys(e.details ?? {}).length ? (
                      <details>
                        <summary className="cursor-pointer rounded text-zinc-600 focus-visible:outline-2 focus-visible:outline-indigo-600">show</summary>
                        <pre className="mt-1 max-w-md overflow-auto rounded bg-zinc-50 p-2 font-mono text-[11px] whitespace-pre-wrap">{JSON.stringify(e.details, null, 2)}</pre>
                      </details>
                    ) : null}
                  </td>
                </tr>
              ))}
            </TBody>
          </Table>
          <nav aria-label="Pages" className="flex justify-between border-t border-zinc-100 px-4 py-2">
            <Button size="sm" disabled={!params.cursor} onClick={() => apply({ ...params, cursor: '' })}>
              Newest
            </Button>
            <Button size="sm" disabled={!d.nextCursor} onClick={() => apply({ ...params, cursor: d.nextCursor ?? '' })}>
              Older
            </Button>
          </nav>
        </Card>
      )}
    </div>
  );
}
