'use client';

import { useEffect, useState } from 'react';
import { previewPlanAction, savePlanAction } from '@/server/actions/plans';
import type { PlansData } from '@/server/dashboard/loaders';
import { PLAN_NAME_RE, planFieldsSchema } from '@/server/domain/schemas';
import { formatLimit } from '../lib/format';
import { fromFormValues, toFormValues } from '../lib/limits-form';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader } from '../ui/card';
import { DialogFooter, Modal } from '../ui/dialog';
import { FormError, TextField, fieldError } from '../ui/field';
import { LiveDot, QueryFallback } from '../ui/states';

type Plan = PlansData['plans'][number];

/** Every editable limit, grouped; `unit` drives the hint ("= 5m"). */
const GROUPS: { title: string; fields: { key: keyof Plan & string; label: string; unit?: 's' | 'MB' | ''; nullable?: boolean; step?: string; text?: boolean; hint?: string }[] }[] = [
  {
    title: 'Timeouts',
    fields: [
      { key: 'defaultTimeoutSeconds', label: 'Default timeout (s)', unit: 's' },
      { key: 'maxTimeoutSeconds', label: 'Max timeout (s)', unit: 's' },
      { key: 'gracePeriodSeconds', label: 'Grace period (s)', unit: 's' },
      { key: 'warnBeforeSeconds', label: 'Warn before deadline (s)', unit: 's' },
    ],
  },
  {
    title: 'Concurrency and quota',
    fields: [
      { key: 'maxConcurrentJobs', label: 'Max concurrent jobs', unit: '' },
      { key: 'maxQueuedJobs', label: 'Max queued jobs', unit: '' },
      { key: 'maxRetries', label: 'Max retries', unit: '' },
      { key: 'monthlyQuotaSeconds', label: 'Monthly quota (s)', unit: 's', nullable: true },
    ],
  },
  {
    title: 'TTL after finish',
    fields: [
      { key: 'ttlSucceededSeconds', label: 'Succeeded (s)', unit: 's' },
      { key: 'ttlFailedSeconds', label: 'Failed (s)', unit: 's' },
      { key: 'ttlTimedOutSeconds', label: 'Timed out (s)', unit: 's' },
      { key: 'ttlKilledSeconds', label: 'Killed (s)', unit: 's' },
      { key: 'ttlLostSeconds', label: 'Lost (s)', unit: 's' },
    ],
  },
  {
    title: 'Container fence',
    fields: [
      { key: 'cpus', label: 'CPUs', step: '0.1' },
      { key: 'memoryMb', label: 'Memory (MB)', unit: 'MB' },
      { key: 'pidsLimit', label: 'Max processes (pids)', unit: '' },
      { key: 'network', label: 'Network', text: true, hint: '"warden" (isolated bridge), "none", or a network name' },
      { key: 'runtime', label: 'OCI runtime', text: true, nullable: true, hint: 'blank = engine default; e.g. runsc' },
    ],
  },
  {
    title: 'What a job may ask for',
    fields: [
      { key: 'maxEnvVars', label: 'Env variables', unit: '' },
      { key: 'maxEnvBytes', label: 'Env bytes', unit: '' },
      { key: 'maxCommandArgs', label: 'Command arguments', unit: '' },
      { key: 'maxCommandBytes', label: 'Command bytes', unit: '' },
      { key: 'maxLabels', label: 'Labels', unit: '' },
      { key: 'maxLabelBytes', label: 'Label bytes', unit: '' },
    ],
  },
  {
    title: 'Idle and results',
    fields: [
      { key: 'idleTimeoutSeconds', label: 'Idle timeout (s)', unit: 's', nullable: true },
      { key: 'maxResultsMb', label: 'Max results (MB)', unit: 'MB' },
      { key: 'maxResultsTotalMb', label: 'Max results per user, total (MB)', unit: 'MB' },
      { key: 'resultsPath', label: 'Default results path', nullable: true, text: true },
    ],
  },
];
const FIELDS = GROUPS.flatMap((g) => g.fields);

const toForm = (p: Plan) => toFormValues(FIELDS, p);
/** Form values → the PUT body, checked with the API's own schema. */
const fromForm = (v: Record<string, string>) => fromFormValues(FIELDS, v, planFieldsSchema);

export function PlansView({ initial, initialError }: { initial: PlansData | null; initialError?: string | null }) {
  const me = useMe();
  const q = useViewQuery(['plans'], '/api/ui/plans', initial, { refetchInterval: 5000 });
  const d = q.data;
  return (
    <div>
      <PageHeader
        title="Plans"
        description="Limits every user on a plan gets unless they have an override. Running jobs keep their deadlines when a plan changes."
        actions={
          <>
            <LiveDot ok={!q.isError} />
            {me.can('admin') ? <NewPlan /> : null}
          </>
        }
      />
      {!d ? (
        <QueryFallback query={q} initialError={initialError} />
      ) : (
        <div className="space-y-5">
          {d.plans.map((p) => (
            <PlanEditor key={p.name} plan={p} editable={me.can('admin')} />
          ))}
        </div>
      )}
    </div>
  );
}

function PlanEditor({ plan, editable }: { plan: Plan; editable: boolean }) {
  const [vals, setVals] = useState(() => toForm(plan));
  const [base, setBase] = useState(() => toForm(plan));
  const [clientErr, setClientErr] = useState<{ field: string; message: string } | null>(null);
  const [preview, setPreview] = useState<{ notes: string[]; runningJobs: number; queuedJobs: number } | null>(null);
  const save = useServerAction(savePlanAction);
  const serverPlan = toForm(plan);
  const dirty = FIELDS.some((f) => vals[f.key] !== base[f.key]);
  // Someone else saved while we were not editing: take their values.
  // (React's "adjust state when a prop changes" pattern: set during render, no effect.)
  const serverKey = JSON.stringify(serverPlan);
  const [lastServer, setLastServer] = useState(serverKey);
  if (lastServer !== serverKey) {
    setLastServer(serverKey);
    if (!dirty) {
      setVals(serverPlan);
      setBase(serverPlan);
    }
  }
  // Preview what the change means for work in flight (debounced, read-only).
  const valsKey = JSON.stringify(vals);
  useEffect(() => {
    if (!dirty) return;
    const f = fromForm(vals);
    if (f.error) return;
    const t = setTimeout(() => {
      previewPlanAction({ name: plan.name, fields: f.fields })
        .then((r) => setPreview(r.ok && r.data ? r.data : r.ok ? null : { notes: [r.error.message], runningJobs: 0, queuedJobs: 0 }))
        .catch(() => {});
    }, 500);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [valsKey, dirty, plan.name]);
  const err = clientErr ?? save.error;
  const formId = `plan-${plan.name}`;
  return (
    <Card
      title={
        <span className="flex items-baseline gap-2">
          <span className="text-base">{plan.name}</span>
          <span className="text-xs font-normal text-zinc-500">
            {plan.users} user{plan.users === 1 ? '' : 's'}
          </span>
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
            <Button size="sm" variant="primary" type="submit" form={formId} busy={save.pending} disabled={!dirty}>
              Save
            </Button>
          </div>
        ) : null
      }
    >
      <form
        id={formId}
        aria-label={`Plan ${plan.name}`}
        onSubmit={(e) => {
          e.preventDefault();
          const f = fromForm(vals);
          if (f.error) {
            setClientErr(f.error);
            return;
          }
          setClientErr(null);
          void save.run({ name: plan.name, fields: f.fields }, { onOk: () => setBase(vals) });
        }}
      >
        <div className="grid gap-x-6 gap-y-5 lg:grid-cols-2 2xl:grid-cols-4">
          {GROUPS.map((g) => (
            <fieldset key={g.title} className="min-w-0">
              <legend className="mb-2 text-xs font-semibold tracking-wide text-zinc-500 uppercase">{g.title}</legend>
              <div className="grid grid-cols-2 gap-3">
                {g.fields.map((f) => {
                  const v = vals[f.key] ?? '';
                  const n = Number(v);
                  const hint = f.hint ?? (f.nullable && v === '' ? 'none' : f.unit === 's' && v !== '' && Number.isFinite(n) && n > 0 ? `= ${formatLimit(n)}` : undefined);
                  return (
                    <TextField
                      key={f.key}
                      label={f.label}
                      name={f.key}
                      type={f.text ? 'text' : 'number'}
                      inputMode={f.text ? 'text' : 'decimal'}
                      step={f.text ? undefined : (f.step ?? '1')}
                      disabled={!editable}
                      value={v}
                      placeholder={f.nullable ? (f.text ? 'default' : 'none') : undefined}
                      onChange={(e) => setVals({ ...vals, [f.key]: e.target.value })}
                      error={fieldError(err, f.key)}
                      hint={hint}
                    />
                  );
                })}
              </div>
            </fieldset>
          ))}
        </div>
        <FormError error={err} fields={FIELDS.map((f) => f.key)} className="mt-3" />
        {editable && dirty && preview ? (
          <div aria-live="polite" className="mt-4 rounded-lg bg-indigo-50 px-4 py-3 text-sm text-indigo-950 ring-1 ring-inset ring-indigo-200">
            <p className="font-medium">
              If you save: {preview.runningJobs} running and {preview.queuedJobs} queued job{preview.queuedJobs === 1 ? '' : 's'} on this plan
            </p>
            <ul className="mt-1 list-disc pl-5 text-indigo-900">
              {preview.notes.map((n) => (
                <li key={n}>{n}</li>
              ))}
            </ul>
          </div>
        ) : null}
      </form>
    </Card>
  );
}

function NewPlan() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const a = useServerAction(savePlanAction);
  return (
    <>
      <Button variant="primary" onClick={() => { setOpen(true); setName(''); setErr(null); }}>
        New plan
      </Button>
      <Modal open={open} onOpenChange={setOpen} title="New plan" description="It starts with the free plan's limits; edit them after creating it.">
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            if (!PLAN_NAME_RE.test(name)) {
              setErr('Plan names are 1-63 lowercase letters, digits, _ or -');
              return;
            }
            setErr(null);
            void a.run({ name, fields: {} }, { onOk: () => setOpen(false) });
          }}
        >
          <TextField label="Plan name" value={name} onChange={(e) => setName(e.target.value)} error={err ?? a.error?.message ?? null} required />
          <DialogFooter>
            <Button type="submit" variant="primary" busy={a.pending}>
              Create plan
            </Button>
          </DialogFooter>
        </form>
      </Modal>
    </>
  );
}
