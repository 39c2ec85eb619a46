'use client';

import { useQuery } from '@tanstack/react-query';
import { createContext, useContext, useState, type ReactNode } from 'react';
import { extendJobAction } from '@/server/actions/jobs';
import type { JobDetailData } from '@/server/dashboard/loaders';
import { getJson } from '../lib/fetch-json';
import { formatDuration, formatLimit } from '../lib/format';
import { useLocalTime } from '../ui/time';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useNow } from '../lib/use-now';
import { Button } from '../ui/button';
import { DialogFooter, Modal } from '../ui/dialog';
import { Checkbox, FormError, TextArea, TextField, fieldError } from '../ui/field';

/**
 * The Extend dialog, hosted once per page (not inside a table row): a job that ends while the
 * dialog is open leaves the Running list, and its row with it, but the dialog stays, says so, and
 * keeps the typed reason. It reads the job's limits (the cap and where it comes from) from the
 * job's own query, which the live stream refreshes.
 */
interface Target {
  id: string;
  name: string | null;
}

const ExtendContext = createContext<(job: Target) => void>(() => {});

export function useExtendDialog(): (job: Target) => void {
  return useContext(ExtendContext);
}

export function ExtendDialogHost({ children }: { children: ReactNode }) {
  const [target, setTarget] = useState<Target | null>(null);
  const [open, setOpen] = useState(false);
  return (
    <ExtendContext.Provider
      value={(job) => {
        setTarget(job);
        setOpen(true);
      }}
    >
      {children}
      {target ? <ExtendDialog key={target.id} target={target} open={open} onOpenChange={setOpen} /> : null}
    </ExtendContext.Provider>
  );
}

export const EXTEND_PRESETS = [60, 300, 900, 3600];

/** Where a cap comes from, in words: "plan pro", "class build", "this user's override". */
function capFrom(d: JobDetailData): string {
  const from = d.limits?.maxTimeoutFrom;
  if (from === 'class') return `class ${d.job.class ?? ''}`.trim();
  if (from === 'user') return `${d.user?.name ?? 'the user'}'s override`;
  return `plan ${d.plan?.name ?? ''}`.trim();
}

function ExtendDialog({ target, open, onOpenChange }: { target: Target; open: boolean; onOpenChange: (o: boolean) => void }) {
  const me = useMe();
  const now = useNow();
  const q = useQuery({ queryKey: ['job', target.id], queryFn: ({ signal }) => getJson<JobDetailData>(`/api/ui/jobs/${target.id}`, signal), enabled: open });
  const d = q.data;
  const job = d?.job;
  const cap = d?.limits?.maxTimeoutSeconds ?? null;
  const left = job && cap != null ? Math.max(0, cap - job.timeoutSeconds) : null;
  const [seconds, setSeconds] = useState('');
  const [reason, setReason] = useState('');
  const [override, setOverride] = useState(false);
  const a = useServerAction(extendJobAction, { errorToast: false });
  const localTime = useLocalTime();
  // Until the operator types, the field suggests 5 minutes, or what the cap leaves when less.
  const shown = seconds !== '' ? seconds : left != null ? String(Math.min(300, left)) : '300';
  const n = Number(shown);
  const valid = Number.isInteger(n) && n > 0;
  const ended = job != null && job.status !== 'running';
  const overCap = left != null && valid && n > left;
  const mayOverride = me.can('admin') && override;
  const newDeadline = job?.deadlineAt && valid ? new Date(new Date(job.deadlineAt).getTime() + n * 1000).toISOString() : null;
  const close = (o: boolean) => {
    onOpenChange(o);
    if (!o) a.setError(null);
  };
  return (
    <Modal open={open} onOpenChange={close} title={`Extend deadline of ${target.name ?? target.id.slice(0, 8)}`} description={job ? `Current timeout ${formatLimit(job.timeoutSeconds)}${cap != null ? `, cap ${formatLimit(cap)}` : ''}.` : 'Loading the job’s limits…'}>
      <form
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          if (!valid) {
            a.setError({ code: 'validation_failed', message: 'Enter a whole number of seconds greater than 0', field: 'seconds' });
            return;
          }
          void a.run(
            { id: target.id, seconds: n, reason: reason.trim() || undefined, overrideCap: mayOverride || undefined },
            {
              onOk: () => {
                setReason('');
                setSeconds('');
                setOverride(false);
                onOpenChange(false);
              },
            },
          );
        }}
      >
        {ended ? (
          <p role="status" data-testid="extend-ended" className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-inset ring-amber-200">
            This job ended ({job.status.replace('_', ' ')}) while this dialog was open; it can no longer be extended. Your reason is kept below.
          </p>
        ) : left != null && d ? (
          <p data-testid="extend-cap" className="rounded-md bg-zinc-50 px-3 py-2 text-sm text-zinc-800 ring-1 ring-inset ring-zinc-200">
            {left > 0 ? `You can add at most ${formatLimit(left)} (cap ${formatLimit(cap)} from ${capFrom(d)}).` : `The cap is reached: ${formatLimit(cap)} from ${capFrom(d)}.`}
            {me.can('admin') ? ' Admins may override it with a reason.' : ''}
          </p>
        ) : null}
        <div>
          <TextField
            label="Add seconds"
            type="number"
            inputMode="numeric"
            min={1}
            step={1}
            value={shown}
            disabled={ended}
            onChange={(e) => setSeconds(e.target.value)}
            error={fieldError(a.error, 'seconds')}
            hint={newDeadline && !ended ? `New deadline ${localTime(newDeadline)} (${formatDuration((new Date(newDeadline).getTime() - now) / 1000)} from now)` : undefined}
          />
          <div className="mt-2 flex flex-wrap gap-1.5" role="group" aria-label="Presets">
            {EXTEND_PRESETS.map((p) => {
              const tooMuch = left != null && p > left && !mayOverride;
              return (
                <Button key={p} size="sm" variant="ghost" disabled={ended || tooMuch} title={tooMuch ? `More than the ${formatLimit(left)} the cap leaves` : undefined} onClick={() => setSeconds(String(p))}>
                  +{formatLimit(p)}
                </Button>
              );
            })}
          </div>
        </div>
        <TextArea label="Reason (recorded in the audit log)" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} error={fieldError(a.error, 'reason')} />
        {overCap && !ended ? (
          me.can('admin') ? (
            <Checkbox label="Override the cap (admin; a reason is required)" checked={override} onChange={(e) => setOverride(e.target.checked)} />
          ) : (
            <p className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-800 ring-1 ring-inset ring-amber-200">This goes past the cap; only an admin can override it.</p>
          )
        ) : null}
        <FormError error={a.error} fields={['seconds', 'reason']} />
        <DialogFooter cancel={ended ? 'Close' : 'Cancel'}>
          <Button type="submit" variant="primary" busy={a.pending} disabled={ended || !job || (overCap && !mayOverride)}>
            Extend deadline
          </Button>
        </DialogFooter>
      </form>
    </Modal>
  );
}
