'use client';

import { useState } from 'react';
import { cancelJobAction, killJobAction, suspendTimeoutAction } from '@/server/actions/jobs';
import { formatLimit } from '../lib/format';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useExtendDialog } from './extend-dialog';
import { Button } from '../ui/button';
import { ConfirmDialog, DialogFooter, Modal } from '../ui/dialog';
import { Checkbox, FormError, TextArea, fieldError } from '../ui/field';

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
export function JobActions({ job, size = 'sm', showSuspend = false }: { job: ActionableJob; size?: 'sm' | 'md'; showSuspend?: boolean }) {
  const me = useMe();
  if (!me.can('operator')) return null;
  const live = job.status === 'running' || job.status === 'starting' || job.status === 'terminating';
  return (
    <div className="flex flex-wrap items-center justify-end gap-1.5">
      {job.status === 'queued' ? <CancelButton job={job} size={size} /> : null}
      {job.status === 'running' ? <ExtendButton job={job} size={size} /> : null}
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

/** Opens the page's Extend dialog (components/jobs/extend-dialog.tsx), which outlives this row. */
function ExtendButton({ job, size }: { job: ActionableJob; size: 'sm' | 'md' }) {
  const open = useExtendDialog();
  return (
    <Button size={size} onClick={() => open({ id: job.id, name: job.name })}>
      Extend
    </Button>
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
