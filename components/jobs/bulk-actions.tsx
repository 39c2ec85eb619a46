'use client';

import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { cancelJobAction, extendJobAction, killJobAction } from '@/server/actions/jobs';
import type { JobRow } from '@/server/dashboard/job-lists';
import { Button } from '../ui/button';
import { DialogFooter, DialogResult, Modal } from '../ui/dialog';
import { Checkbox, TextArea, TextField } from '../ui/field';

type Kind = 'kill' | 'cancel' | 'extend';

/** Which selected jobs each action applies to (the others are left alone and said so). */
const APPLIES: Record<Kind, (status: string) => boolean> = {
  kill: (s) => s === 'running' || s === 'starting' || s === 'terminating',
  cancel: (s) => s === 'queued',
  extend: (s) => s === 'running',
};
const TITLE: Record<Kind, string> = { kill: 'Kill selected', cancel: 'Cancel selected', extend: 'Extend selected' };
const VERB: Record<Kind, string> = { kill: 'Kill', cancel: 'Cancel', extend: 'Extend' };

const label = (j: JobRow) => j.name ?? j.id.slice(0, 8);
const plural = (n: number) => `${n} job${n === 1 ? '' : 's'}`;

/** "2 running, 1 terminating": how many of each state. */
function kinds(rows: JobRow[]): string {
  const by = new Map<string, number>();
  for (const r of rows) by.set(r.status, (by.get(r.status) ?? 0) + 1);
  return [...by].map(([s, n]) => `${n} ${s.replace('_', ' ')}`).join(', ');
}

interface Line {
  id: string;
  name: string;
  ok: boolean;
  message: string;
}

/**
 * The bar above a job table while rows are selected: Kill / Cancel / Extend selected. Each opens
 * one confirmation naming how many jobs of which kinds it affects (and which selected ones it
 * leaves alone), then runs the action job by job and shows one result line per job.
 */
export function BulkBar({ selected, onClear }: { selected: JobRow[]; onClear: () => void }) {
  const [kind, setKind] = useState<Kind | null>(null);
  const count = (k: Kind) => selected.filter((j) => APPLIES[k](j.status)).length;
  // The dialog outlives the selection: the jobs it acted on leave the list (cancelled, killed)
  // while their result lines are still shown.
  const dialog = kind ? <BulkDialog kind={kind} selected={selected} onClose={() => setKind(null)} onDone={onClear} /> : null;
  return (
    <>
      {selected.length > 0 ? (
        <div role="toolbar" aria-label="Selected jobs" className="flex flex-wrap items-center gap-2 border-b border-indigo-100 bg-indigo-50 px-4 py-2 text-sm">
          <span className="font-medium text-indigo-900" data-testid="selected-count">
            {selected.length} selected
          </span>
          {(['kill', 'cancel', 'extend'] as const).map((k) => (
            <Button key={k} size="sm" variant={k === 'kill' ? 'danger' : 'secondary'} disabled={count(k) === 0} onClick={() => setKind(k)}>
              {TITLE[k]}
            </Button>
          ))}
          <Button size="sm" variant="ghost" onClick={onClear}>
            Clear selection
          </Button>
        </div>
      ) : null}
      {dialog}
    </>
  );
}

function BulkDialog({ kind, selected, onClose, onDone }: { kind: Kind; selected: JobRow[]; onClose: () => void; onDone: () => void }) {
  const qc = useQueryClient();
  // The jobs as they were when the dialog opened: a live refresh does not change what is confirmed.
  const [targets] = useState(() => selected.filter((j) => APPLIES[kind](j.status)));
  const [skipped] = useState(() => selected.filter((j) => !APPLIES[kind](j.status)));
  const [reason, setReason] = useState('');
  const [force, setForce] = useState(false);
  const [seconds, setSeconds] = useState('300');
  const [busy, setBusy] = useState(false);
  const [lines, setLines] = useState<Line[] | null>(null);
  const n = Number(seconds);
  const secondsOk = Number.isInteger(n) && n > 0;

  async function run() {
    setBusy(true);
    const out: Line[] = [];
    for (const j of targets) {
      let r: { ok: true; message: string } | { ok: false; error: { message: string } };
      try {
        r =
          kind === 'kill'
            ? await killJobAction({ id: j.id, reason: reason.trim() || undefined, force: j.status === 'terminating' ? true : force })
            : kind === 'cancel'
              ? await cancelJobAction({ id: j.id })
              : await extendJobAction({ id: j.id, seconds: n, reason: reason.trim() || undefined });
      } catch {
        r = { ok: false, error: { message: 'Could not reach the server' } };
      }
      out.push({ id: j.id, name: label(j), ok: r.ok, message: r.ok ? r.message : r.error.message });
      setLines([...out]);
    }
    setBusy(false);
    await qc.invalidateQueries();
  }

  const title = `${VERB[kind]} ${plural(targets.length)}?`;
  const description = (
    <>
      {`${VERB[kind]} ${plural(targets.length)} (${kinds(targets)}).`}
      {skipped.length ? ` ${plural(skipped.length)} selected ${skipped.length === 1 ? 'is' : 'are'} left alone (${kinds(skipped)}).` : ''}
    </>
  );
  return (
    <Modal
      open
      onOpenChange={(o) => {
        if (o || busy) return;
        // Once the results are shown, closing them ends the selection too.
        if (lines) onDone();
        onClose();
      }}
      title={title}
      description={description}
      wide
    >
      {lines ? (
        <DialogResult>
          <ul aria-label="Results" className="max-h-72 divide-y divide-zinc-100 overflow-y-auto text-sm">
            {lines.map((l) => (
              <li key={l.id} data-job-id={l.id} data-ok={l.ok} className="flex gap-2 py-1.5">
                <span aria-hidden className={l.ok ? 'text-emerald-700' : 'text-red-700'}>
                  {l.ok ? '✓' : '✗'}
                </span>
                <span className="font-medium text-zinc-900">{l.name}</span>
                <span className={l.ok ? 'text-zinc-600' : 'text-red-700'}>{l.message}</span>
              </li>
            ))}
          </ul>
          {busy ? <p className="text-xs text-zinc-500">{`${lines.length} of ${targets.length} done…`}</p> : null}
        </DialogResult>
      ) : (
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            void run();
          }}
        >
          <ul aria-label="Jobs affected" className="max-h-40 overflow-y-auto rounded-md bg-zinc-50 px-3 py-2 text-xs text-zinc-700">
            {targets.map((j) => (
              <li key={j.id}>
                <span className="font-medium">{label(j)}</span> <span className="font-mono text-zinc-500">{j.id.slice(0, 8)}</span> · {j.status.replace('_', ' ')}
              </li>
            ))}
          </ul>
          {kind === 'extend' ? <TextField label="Seconds to add to each" inputMode="numeric" value={seconds} onChange={(e) => setSeconds(e.target.value)} error={secondsOk ? null : 'Enter a whole number of seconds above 0'} /> : null}
          {kind !== 'cancel' ? <TextArea label="Reason (recorded in the audit log)" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} /> : null}
          {kind === 'kill' ? <Checkbox label="Force: skip the grace period (SIGKILL now)" checked={force} onChange={(e) => setForce(e.target.checked)} /> : null}
          <DialogFooter cancel="Back">
            <Button type="submit" variant={kind === 'extend' ? 'primary' : 'danger'} busy={busy} disabled={kind === 'extend' && !secondsOk}>
              {`${VERB[kind]} ${plural(targets.length)}`}
            </Button>
          </DialogFooter>
        </form>
      )}
    </Modal>
  );
}
