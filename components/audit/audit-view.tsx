'use client';

import Link from 'next/link';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useState } from 'react';
import { actionInWords, actorInWords, fieldName, PLAN_FIELD_WORDS } from '@/server/domain/vocabulary';
import type { AuditData } from '@/server/dashboard/loaders';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, Table, td, th } from '../ui/card';
import { Modal } from '../ui/dialog';
import { SelectField, TextField } from '../ui/field';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { Badge } from '../ui/status';
import { Term } from '../ui/term';
import { AbsTime, RelTime } from '../ui/time';

const KEYS = ['actor', 'action', 'job', 'jobName', 'q', 'cursor'] as const;

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
  const [f, setF] = useState({ actor: params.actor ?? '', action: params.action ?? '', job: params.job ?? '', jobName: params.jobName ?? '', q: params.q ?? '' });
  // Picker options from the data, plus the current filter (it may be older than what was sampled).
  const actorOptions = [...new Set([...(d?.knownActors ?? []), ...(params.actor ? [params.actor] : [])])];
  const actionOptions = [...new Set([...(d?.knownActions ?? []), ...(params.action ? [params.action] : [])])];
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
        <SelectField label="Actor" className="w-56" value={f.actor} onChange={(e) => setF({ ...f, actor: e.target.value })}>
          <option value="">Anyone</option>
          {actorOptions.map((a) => (
            <option key={a} value={a}>
              {actorInWords(a)}
            </option>
          ))}
        </SelectField>
        <SelectField label="Action" className="w-56" value={f.action} onChange={(e) => setF({ ...f, action: e.target.value })}>
          <option value="">Any action</option>
          {actionOptions.map((a) => (
            <option key={a} value={a}>
              {actionInWords(a)}
            </option>
          ))}
        </SelectField>
        <TextField label="Job id" className="w-64" placeholder="full id or its first 6+ characters" value={f.job} onChange={(e) => setF({ ...f, job: e.target.value })} />
        <TextField label="Job name" className="w-48" value={f.jobName} onChange={(e) => setF({ ...f, jobName: e.target.value })} />
        <TextField label="Search reason, target, error" className="w-64" value={f.q} onChange={(e) => setF({ ...f, q: e.target.value })} />
        <Button type="submit" variant="primary">
          Filter
        </Button>
        {Object.keys(params).length ? (
          <Button
            variant="ghost"
            onClick={() => {
              setF({ actor: '', action: '', job: '', jobName: '', q: '' });
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
          {/* Below md each event is a card (two columns, then reason and details full width), so the details read at 390 px instead of in a squeezed sixth column. */}
          <Table label="Audit events" className="max-md:block">
            <thead className="bg-zinc-50 max-md:sr-only">
              <tr>
                {['When', 'Actor', 'Action', 'Target', 'Reason', 'Details'].map((c) => (
                  <th key={c} scope="col" className={th}>
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 bg-white max-md:block">
              {d.events.map((e) => (
                <tr key={e.id} data-event-id={e.id} className="align-top max-md:grid max-md:grid-cols-[minmax(0,1fr)_minmax(0,1fr)] max-md:py-1.5 max-md:[&>td]:py-1">
                  <td className={`${td} whitespace-nowrap max-md:whitespace-normal`}>
                    <RelTime iso={e.at} />
                    <AbsTime iso={e.at} className="block text-[11px] text-zinc-500" />
                  </td>
                  <td className={`${td} max-w-[14rem] truncate text-xs`}>
                    <button type="button" className="rounded text-left hover:underline focus-visible:outline-2 focus-visible:outline-indigo-600" onClick={() => { setF({ ...f, actor: e.actor }); apply({ ...params, cursor: '', actor: e.actor }); }}>
                      <Term code={e.actor} words={actorInWords(e.actor)} />
                    </button>
                  </td>
                  <td className={`${td} whitespace-nowrap max-md:whitespace-normal`}>
                    <Term code={e.action} words={actionInWords(e.action)} className="text-sm" /> {!e.success ? <Badge tone="red">failed</Badge> : null}
                  </td>
                  <td className={`${td} whitespace-nowrap text-xs max-md:whitespace-normal max-md:wrap-anywhere`}>
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
                  <td className={`${td} max-w-md text-xs max-md:col-span-2 max-md:max-w-none ${e.reason || e.error ? '' : 'max-md:hidden'}`}>
                    <p className="break-words">{e.reason ?? ''}</p>
                    {e.error ? <p className="break-words text-red-700">{e.error}</p> : null}
                  </td>
                  <td className={`${td} text-xs max-md:col-span-2`}>
                    <DetailsTable details={e.details} />
                    <EventDialog e={e} />
                  </td>
                </tr>
              ))}
            </tbody>
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

type AuditEntry = AuditData['events'][number];
type Row = { key: string; label: string; value: string };

/** A value in a details table: units for plan fields; nested values are flattened before this. */
function showValue(key: string, v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'object') return JSON.stringify(v);
  const unit = PLAN_FIELD_WORDS[key]?.unit;
  return unit && typeof v === 'number' ? `${v} ${unit}` : String(v);
}

/** Nested objects as dotted keys (`node.capacity.cpus`); a list of plain values reads as one comma-separated value. */
function flatten(prefix: string, v: unknown, out: Row[]): void {
  const plainList = Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object');
  if (v && typeof v === 'object' && !plainList) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) out.push({ key: prefix, label: prefix, value: Array.isArray(v) ? 'none' : '{}' });
    for (const [k, x] of entries) flatten(`${prefix}.${k}`, x, out);
    return;
  }
  const last = prefix.slice(prefix.lastIndexOf('.') + 1);
  out.push({ key: prefix, label: prefix, value: Array.isArray(v) ? (v.length ? v.map((x) => showValue(last, x)).join(', ') : 'none') : showValue(last, v) });
}

/**
 * An event's details as rows of fields. A plan (or class, user) edit's `changes` read as
 * "Default timeout: 300 s → 600 s", named as the plan form names them; other nested values are
 * flattened to dotted keys.
 */
function detailRows(details: Record<string, unknown> | null | undefined): Row[] {
  const rows: Row[] = [];
  for (const [k, v] of Object.entries(details ?? {})) {
    if ((k === 'changes' || k === 'fields') && v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [fk, fv] of Object.entries(v as Record<string, unknown>)) {
        const change = fv && typeof fv === 'object' && 'from' in fv && 'to' in fv ? (fv as { from: unknown; to: unknown }) : null;
        if (change) rows.push({ key: fk, label: fieldName(fk), value: `${showValue(fk, change.from)} → ${showValue(fk, change.to)}` });
        else if (fv && typeof fv === 'object') flatten(fieldName(fk), fv, rows);
        else rows.push({ key: fk, label: fieldName(fk), value: showValue(fk, fv) });
      }
    } else if (v && typeof v === 'object') flatten(k, v, rows);
    else rows.push({ key: k, label: fieldName(k), value: showValue(k, v) });
  }
  return rows;
}

function FieldTable({ rows, label, className }: { rows: Row[]; label: string; className?: string }) {
  return (
    <table className={className} aria-label={label}>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key} className="align-top">
            <th scope="row" title={r.key} className="py-0.5 pr-3 text-left font-medium whitespace-nowrap text-zinc-600 max-md:w-2/5 max-md:whitespace-normal max-md:wrap-anywhere">
              {r.label}
            </th>
            <td className="py-0.5 wrap-anywhere text-zinc-800">{r.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The details inline, compact. */
function DetailsTable({ details }: { details: Record<string, unknown> | null | undefined }) {
  const rows = detailRows(details);
  if (rows.length === 0) return null;
  return <FieldTable rows={rows} label="Details" className="max-w-md text-[11px] max-md:w-full max-md:max-w-none max-md:text-xs" />;
}

/** "Open": the whole entry in a dialog, as a two-column table of fields (never raw JSON). */
function EventDialog({ e }: { e: AuditEntry }) {
  const [open, setOpen] = useState(false);
  const rows: Row[] = [
    { key: 'at', label: 'When', value: new Date(e.at).toLocaleString(undefined, { timeZoneName: 'short' }) },
    { key: 'actor', label: 'Actor', value: `${actorInWords(e.actor)} (${e.actor})` },
    { key: 'action', label: 'Action', value: `${actionInWords(e.action)} (${e.action})` },
    { key: 'outcome', label: 'Outcome', value: e.success ? 'succeeded' : 'failed' },
    { key: 'target', label: 'Target', value: `${e.targetType}${e.targetId ? ` ${e.targetId}` : ''}` },
    ...(e.reason ? [{ key: 'reason', label: 'Reason', value: e.reason }] : []),
    ...(e.error ? [{ key: 'error', label: 'Error', value: e.error }] : []),
    ...detailRows(e.details),
    { key: 'id', label: 'Event id', value: String(e.id) },
  ];
  return (
    <>
      <Button size="sm" variant="ghost" className="mt-1" onClick={() => setOpen(true)} aria-label={`Open audit event ${e.id}`}>
        Open
      </Button>
      <Modal open={open} onOpenChange={setOpen} title={actionInWords(e.action)} description="Every field of this audit entry." wide>
        <FieldTable rows={rows} label="Audit entry fields" className="w-full text-sm" />
      </Modal>
    </>
  );
}
