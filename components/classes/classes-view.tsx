'use client';

import { useState } from 'react';
import { deleteClassAction, saveClassAction } from '@/server/actions/classes';
import type { ClassesData } from '@/server/dashboard/classes';
import { CLASS_NAME_RE, classFieldsSchema } from '@/server/domain/schemas';
import { formatLimit } from '../lib/format';
import { fromFormValues, toFormValues, type LimitsField } from '../lib/limits-form';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader } from '../ui/card';
import { ConfirmDialog, DialogFooter, Modal } from '../ui/dialog';
import { FormError, TextField, fieldError } from '../ui/field';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';

type Cls = ClassesData['classes'][number];
type Field = { key: keyof Cls & string; label: string; kind: 'seconds' | 'text'; required?: boolean; placeholder?: string };

/** Every field a class has; empty = falls through to the plan. */
const GROUPS: { title: string; fields: Field[] }[] = [
  {
    title: 'Timeouts',
    fields: [
      { key: 'defaultTimeoutSeconds', label: 'Default timeout (s)', kind: 'seconds', required: true },
      { key: 'maxTimeoutSeconds', label: 'Max timeout (s)', kind: 'seconds', placeholder: 'plan cap' },
      { key: 'gracePeriodSeconds', label: 'Grace period (s)', kind: 'seconds', placeholder: 'plan' },
      { key: 'warnBeforeSeconds', label: 'Warn before deadline (s)', kind: 'seconds', placeholder: 'plan' },
      { key: 'idleTimeoutSeconds', label: 'Idle timeout (s)', kind: 'seconds', placeholder: 'plan' },
    ],
  },
  {
    title: 'TTL after finish',
    fields: [
      { key: 'ttlSucceededSeconds', label: 'Succeeded (s)', kind: 'seconds', placeholder: 'plan' },
      { key: 'ttlFailedSeconds', label: 'Failed (s)', kind: 'seconds', placeholder: 'plan' },
      { key: 'ttlTimedOutSeconds', label: 'Timed out (s)', kind: 'seconds', placeholder: 'plan' },
      { key: 'ttlKilledSeconds', label: 'Killed (s)', kind: 'seconds', placeholder: 'plan' },
      { key: 'ttlLostSeconds', label: 'Lost (s)', kind: 'seconds', placeholder: 'plan' },
    ],
  },
  {
    title: 'Results and description',
    fields: [
      { key: 'resultsPath', label: 'Results path', kind: 'text', placeholder: 'plan (e.g. /out)' },
      { key: 'description', label: 'Description', kind: 'text', placeholder: 'what the class is for' },
    ],
  },
];
const FIELDS = GROUPS.flatMap((g) => g.fields);

const FORM: LimitsField[] = FIELDS.map((f) => ({ key: f.key, label: f.label, text: f.kind === 'text', nullable: !f.required }));
const toForm = (c: Cls | null) => toFormValues(FORM, c);
/** Form values → the PUT body (empty = null: falls through to the plan), checked with the API's own schema. */
const fromForm = (v: Record<string, string>) => fromFormValues(FORM, v, classFieldsSchema);

export function ClassesView({ initial, initialError }: { initial: ClassesData | null; initialError?: string | null }) {
  const me = useMe();
  const q = useViewQuery(['classes'], '/api/ui/classes', initial, { refetchInterval: 5000 });
  const d = q.data;
  return (
    <div>
      <PageHeader
        title="Classes"
        description="Job classes (“job types”): defaults between a job's own request and its user's plan — job → class → user → plan → 300 s. A class may lower a plan's timeout cap, never raise it."
        actions={
          <>
            <LiveDot ok={!q.isError} />
            {me.can('admin') ? <NewClass /> : null}
          </>
        }
      />
      {!d ? (
        <QueryFallback query={q} initialError={initialError} />
      ) : d.classes.length === 0 ? (
        <EmptyState title="No job classes yet">{me.can('admin') ? 'Create one with “New class”; users then submit with "class": "<name>".' : 'An admin can create them.'}</EmptyState>
      ) : (
        <div className="space-y-5">
          {d.classes.map((c) => (
            <ClassEditor key={c.name} cls={c} editable={me.can('admin')} />
          ))}
        </div>
      )}
    </div>
  );
}

function ClassForm({ id, label, vals, setVals, editable, err }: { id: string; label: string; vals: Record<string, string>; setVals: (v: Record<string, string>) => void; editable: boolean; err: { field?: string; message: string } | null }) {
  return (
    <div id={id} aria-label={label} role="group">
      <div className="grid gap-x-6 gap-y-5 lg:grid-cols-3">
        {GROUPS.map((g) => (
          <fieldset key={g.title} className="min-w-0">
            <legend className="mb-2 text-xs font-semibold tracking-wide text-zinc-500 uppercase">{g.title}</legend>
            <div className="grid grid-cols-2 gap-3">
              {g.fields.map((f) => {
                const v = vals[f.key] ?? '';
                const n = Number(v);
                const hint = f.kind === 'seconds' ? (v === '' ? (f.required ? undefined : 'from the plan') : Number.isFinite(n) && n > 0 ? `= ${formatLimit(n)}` : undefined) : undefined;
                return (
                  <TextField
                    key={f.key}
                    label={f.label}
                    name={f.key}
                    type={f.kind === 'seconds' ? 'number' : 'text'}
                    inputMode={f.kind === 'seconds' ? 'numeric' : undefined}
                    step={f.kind === 'seconds' ? '1' : undefined}
                    disabled={!editable}
                    required={f.required}
                    value={v}
                    placeholder={editable ? f.placeholder : undefined}
                    onChange={(e) => setVals({ ...vals, [f.key]: e.target.value })}
                    error={fieldError(err, f.key)}
                    hint={hint}
                    className={f.key === 'description' || f.key === 'resultsPath' ? 'col-span-2' : undefined}
                  />
                );
              })}
            </div>
          </fieldset>
        ))}
      </div>
      <FormError error={err} fields={FIELDS.map((f) => f.key)} className="mt-3" />
    </div>
  );
}

function ClassEditor({ cls, editable }: { cls: Cls; editable: boolean }) {
  const [vals, setVals] = useState(() => toForm(cls));
  const [base, setBase] = useState(() => toForm(cls));
  const [clientErr, setClientErr] = useState<{ field: string; message: string } | null>(null);
  const [confirm, setConfirm] = useState(false);
  const save = useServerAction(saveClassAction);
  const del = useServerAction(deleteClassAction);
  const dirty = FIELDS.some((f) => vals[f.key] !== base[f.key]);
  // Someone else saved while we were not editing: take their values (set during render, no effect).
  const server = toForm(cls);
  const serverKey = JSON.stringify(server);
  const [lastServer, setLastServer] = useState(serverKey);
  if (lastServer !== serverKey) {
    setLastServer(serverKey);
    if (!dirty) {
      setVals(server);
      setBase(server);
    }
  }
  const err = clientErr ?? save.error;
  const formId = `class-${cls.name}`;
  return (
    <Card
      title={
        <span className="flex flex-wrap items-baseline gap-2">
          <span className="font-mono text-base">{cls.name}</span>
          {cls.description ? <span className="text-xs font-normal text-zinc-500">{cls.description}</span> : null}
        </span>
      }
      actions={
        editable ? (
          <div className="flex gap-2">
            {dirty ? (
              <Button size="sm" variant="ghost" onClick={() => { setVals(base); setClientErr(null); save.setError(null); }}>
                Discard
              </Button>
            ) : null}
            <Button size="sm" variant="danger" onClick={() => setConfirm(true)}>
              Delete
            </Button>
            <Button size="sm" variant="primary" type="submit" form={formId} busy={save.pending} disabled={!dirty}>
              Save
            </Button>
          </div>
        ) : null
      }
    >
      <form
        id={formId}
        aria-label={`Class ${cls.name}`}
        onSubmit={(e) => {
          e.preventDefault();
          const f = fromForm(vals);
          if (f.error) return setClientErr(f.error);
          setClientErr(null);
          void save.run({ name: cls.name, fields: f.fields }, { onOk: () => setBase(vals) });
        }}
      >
        <ClassForm id={`${formId}-fields`} label={`Fields of class ${cls.name}`} vals={vals} setVals={setVals} editable={editable} err={err} />
      </form>
      {cls.plansBelowDefault.length ? (
        <p className="mt-4 rounded-lg bg-amber-50 px-4 py-2.5 text-sm text-amber-900 ring-1 ring-inset ring-amber-200">
          Its default of {formatLimit(cls.defaultTimeoutSeconds)} is above the cap of{' '}
          {cls.plansBelowDefault.map((p) => `plan ${p.name} (${formatLimit(p.maxTimeoutSeconds)})`).join(', ')}: users on {cls.plansBelowDefault.length === 1 ? 'it' : 'them'} must pass a timeoutSeconds within their cap, or the submit is refused.
        </p>
      ) : null}
      <ConfirmDialog
        open={confirm}
        onOpenChange={setConfirm}
        title={`Delete class ${cls.name}?`}
        description="Jobs keep the class's name in their history; live jobs keep their timeout and use their plan's TTLs from now on. New submits naming it are refused."
        error={del.error}
        cancel="Keep it"
      >
        <Button variant="danger" busy={del.pending} onClick={() => void del.run({ name: cls.name }, { onOk: () => setConfirm(false) })}>
          Delete class
        </Button>
      </ConfirmDialog>
    </Card>
  );
}

function NewClass() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [vals, setVals] = useState(() => toForm(null));
  const [clientErr, setClientErr] = useState<{ field: string; message: string } | null>(null);
  const a = useServerAction(saveClassAction);
  const err = clientErr ?? a.error;
  return (
    <>
      <Button variant="primary" onClick={() => { setOpen(true); setName(''); setVals(toForm(null)); setClientErr(null); a.setError(null); }}>
        New class
      </Button>
      <Modal open={open} onOpenChange={setOpen} title="New class" description="Empty fields fall through to each user's plan." wide>
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            if (!CLASS_NAME_RE.test(name)) return setClientErr({ field: 'name', message: 'Class names are 1-63 lowercase letters, digits, _ or -' });
            const f = fromForm(vals);
            if (f.error) return setClientErr(f.error);
            setClientErr(null);
            void a.run({ name, fields: f.fields }, { onOk: () => setOpen(false) });
          }}
        >
          <TextField label="Class name" value={name} onChange={(e) => setName(e.target.value)} error={fieldError(err, 'name')} required placeholder="build" />
          <ClassForm id="new-class-fields" label="Fields of the new class" vals={vals} setVals={setVals} editable err={err?.field === 'name' ? null : err} />
          <DialogFooter>
            <Button type="submit" variant="primary" busy={a.pending}>
              Create class
            </Button>
          </DialogFooter>
        </form>
      </Modal>
    </>
  );
}
