'use client';

import { useState } from 'react';
import { cancelJobAction, extendJobAction, killJobAction, suspendTimeoutAction } from '@/server/actions/jobs';
import { formatAbsolute, formatDuration, formatLimit } from '../lib/format';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useNow } from '../lib/use-now';
import { Button } from '../ui/button';
import { ConfirmDialog, DialogFooter, Modal } from '../ui/dialog';
import { Checkbox, FormError, TextArea, TextField, fieldError } from '../ui/field';

export interface ActionableJob {
  id: string;
  name: string | null;
  status: string;
  deadlineAt: string | null;
  timeoutSeconds: number;
  gracePeriodSeconds?: number;
  timeoutSuspended?: boolean;
}

const jobLabel = (j: ActionableJob) => j.name ?? j.id.slice(0, 8);

/** A dialog's onOpenChange that also forgets the action's last error when it closes. */
const closeClears =
  (setOpen: (o: boolean) => void, action: { setError: (e: null) => void }) =>
  (o: boolean): void => {
    setOpen(o);
    if (!o) action.setError(null);
  };

/** Kill / Extend / Cancel job (and, for admins on the job page, suspend the timeout). Hidden below the operator role. */
export function JobActions({ job, size = 'sm', showSuspend = false, maxTimeoutSeconds }: { job: ActionableJob; size?: 'sm' | 'md'; showSuspend?: boolean; maxTimeoutSeconds?: number | null }) {
  const me = useMe();
  if (!me.can('operator')) return null;
  const live = job.status === 'running' || job.status === 'starting' || job.status === 'terminating';
  return (
    <div className="flex flex-wrap items-center justify-end gap-1.5">
      {job.status === 'queued' ? <CancelButton job={job} size={size} /> : null}
      {job.status === 'running' ? <ExtendButton job={job} size={size} maxTimeoutSeconds={maxTimeoutSeconds ?? null} /> : null}
      {live ? <KillButton job={job} size={size} /> : null}
      {showSuspend && me.can('admin') && (job.status === 'running' || job.status === 'queued' || job.status === 'starting') ? <SuspendButton job={job} size={size} /> : null}
    </div>
  );
}

function KillButton({ job, size }: { job: ActionableJob; size: 'sm' | 'md' }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [force, setForce] = useState(false);
  const a = useServerAction(killJobAction);
  const terminating = job.status === 'terminating';
  return (
    <>
      <Button variant="danger" size={size} onClick={() => setOpen(true)}>
        Kill
      </Button>
      <Modal
        open={open}
        onOpenChange={closeClears(setOpen, a)}
        title={`Kill job ${jobLabel(job)}`}
        description={
          terminating
            ? 'This job is already terminating. Force kill skips what is left of its grace period.'
            : `The container gets SIGTERM now and SIGKILL after ${job.gracePeriodSeconds != null ? formatLimit(job.gracePeriodSeconds) : 'the grace period'}. It ends as killed.`
        }
      >
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            void a.run({ id: job.id, reason: reason.trim() || undefined, force: terminating ? true : force }, { onOk: () => setOpen(false) });
          }}
        >
          <TextArea label="Reason (recorded in the audit log)" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} error={fieldError(a.error, 'reason')} />
          {terminating ? null : <Checkbox label="Force: skip the grace period (SIGKILL now)" checked={force} onChange={(e) => setForce(e.target.checked)} />}
          <FormError error={a.error} fields={['reason']} />
          <DialogFooter cancel="Keep running">
            <Button type="submit" variant="danger" busy={a.pending}>
              {terminating ? 'Force kill job' : 'Kill job'}
            </Button>
          </DialogFooter>
        </form>
      </Modal>
    </>
  );
}

const PRESETS = [60, 300, 900, 3600];

function ExtendButton({ job, size, maxTimeoutSeconds }: { job: ActionableJob; size: 'sm' | 'md'; maxTimeoutSeconds: number | null }) {
  const me = useMe();
  const now = useNow();
  const [open, setOpen] = useState(false);
  const [seconds, setSeconds] = useState('300');
  const [reason, setReason] = useState('');
  const [override, setOverride] = useState(false);
  const a = useServerAction(extendJobAction);
  const n = Number(seconds);
  const valid = Number.isInteger(n) && n > 0;
  const newDeadline = job.deadlineAt && valid ? new Date(new Date(job.deadlineAt).getTime() + n * 1000).toISOString() : null;
  const overCap = maxTimeoutSeconds != null && valid && job.timeoutSeconds + n > maxTimeoutSeconds;
  return (
    <>
      <Button size={size} onClick={() => setOpen(true)}>
        Extend
      </Button>
      <Modal
        open={open}
        onOpenChange={closeClears(setOpen, a)}
        title={`Extend deadline of ${jobLabel(job)}`}
        description={`Current timeout ${formatLimit(job.timeoutSeconds)}${maxTimeoutSeconds != null ? `, cap ${formatLimit(maxTimeoutSeconds)}` : ''}.`}
      >
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            if (!valid) {
              a.setError({ code: 'validation_failed', message: 'Enter a whole number of seconds greater than 0', field: 'seconds' });
              return;
            }
            void a.run({ id: job.id, seconds: n, reason: reason.trim() || undefined, overrideCap: override || undefined }, { onOk: () => setOpen(false) });
          }}
        >
          <div>
            <TextField
              label="Add seconds"
              type="number"
              inputMode="numeric"
              min={1}
              step={1}
              value={seconds}
              onChange={(e) => setSeconds(e.target.value)}
              error={fieldError(a.error, 'seconds')}
              hint={newDeadline ? `New deadline ${formatAbsolute(newDeadline)} (${formatDuration((new Date(newDeadline).getTime() - now) / 1000)} from now)` : undefined}
            />
            <div className="mt-2 flex gap-1.5" role="group" aria-label="Presets">
              {PRESETS.map((p) => (
                <Button key={p} size="sm" variant="ghost" onClick={() => setSeconds(String(p))}>
                  +{formatLimit(p)}
                </Button>
              ))}
            </div>
          </div>
          <TextArea label="Reason (recorded in the audit log)" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} error={fieldError(a.error, 'reason')} />
          {overCap ? (
            me.can('admin') ? (
              <Checkbox label="Override the cap (admin; a reason is required)" checked={override} onChange={(e) => setOverride(e.target.checked)} />
            ) : (
              <p className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-800 ring-1 ring-inset ring-amber-200">This goes past the cap; only an admin can override it.</p>
            )
          ) : null}
          <FormError error={a.error} fields={['seconds', 'reason']} />
          <DialogFooter>
            <Button type="submit" variant="primary" busy={a.pending}>
              Extend deadline
            </Button>
          </DialogFooter>
        </form>
      </Modal>
    </>
  );
}

function CancelButton({ job, size }: { job: ActionableJob; size: 'sm' | 'md' }) {
  const [open, setOpen] = useState(false);
  const a = useServerAction(cancelJobAction);
  return (
    <>
      <Button size={size} onClick={() => setOpen(true)}>
        Cancel job
      </Button>
      <ConfirmDialog open={open} onOpenChange={setOpen} title={`Cancel job ${jobLabel(job)}?`} description="The job leaves the queue and never starts. This cannot be undone." error={a.error} cancel="Keep it">
        <Button variant="danger" busy={a.pending} onClick={() => void a.run({ id: job.id }, { onOk: () => setOpen(false) })}>
          Cancel job
        </Button>
      </ConfirmDialog>
    </>
  );
}

function SuspendButton({ job, size }: { job: ActionableJob; size: 'sm' | 'md' }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const a = useServerAction(suspendTimeoutAction);
  const suspended = !!job.timeoutSuspended;
  return (
    <>
      <Button size={size} variant="ghost" onClick={() => setOpen(true)}>
        {suspended ? 'Resume timeout' : 'Suspend timeout'}
      </Button>
      <Modal
        open={open}
        onOpenChange={setOpen}
        title={suspended ? 'Resume the timeout' : 'Suspend the timeout'}
        description={suspended ? 'The deadline applies again; a job already past it is stopped on the next sweep.' : 'The job will not be stopped at its deadline until you resume the timeout. Use it while debugging.'}
      >
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            void a.run({ id: job.id, suspended: !suspended, reason: reason.trim() || undefined }, { onOk: () => setOpen(false) });
          }}
        >
          <TextArea label="Reason (recorded in the audit log)" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
          <FormError error={a.error} />
          <DialogFooter>
            <Button type="submit" variant="primary" busy={a.pending}>
              {suspended ? 'Resume timeout' : 'Suspend timeout'}
            </Button>
          </DialogFooter>
        </form>
      </Modal>
    </>
  );
}
