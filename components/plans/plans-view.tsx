'use client';

import { useEffect, useState } from 'react';
import { previewPlanAction, savePlanAction } from '@/server/actions/plans';
import type { PlansData } from '@/server/dashboard/loaders';
import { PLAN_NAME_RE, planFieldsSchema } from '@/server/domain/schemas';
import { fieldsInWords, fieldLabel } from '@/server/domain/vocabulary';
import { formatLimit } from '../lib/format';
import { fromFormValues, toFormValues } from '../lib/limits-form';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, stickyAction, td } from '../ui/card';
import { DialogFooter, Drawer, Modal } from '../ui/dialog';
import { FormError, TextField, fieldError } from '../ui/field';
import { LiveDot, QueryFallback } from '../ui/states';

type Plan = PlansData['plans'][number];

/** Every editable limit, grouped; `unit` drives the hint ("= 5m"). */
const GROUPS: { title: string; fields: { key: keyof Plan & string; label: string; unit?: 's' | 'MB' | ''; nullable?: boolean; step?: string; text?: boolean; hint?: string }[] }[] = [
  {
    title: 'Timeouts',
    fields: [
      { key: 'defaultTimeoutSeconds', label: fieldLabel('defaultTimeoutSeconds'), unit: 's' },
      { key: 'maxTimeoutSeconds', label: fieldLabel('maxTimeoutSeconds'), unit: 's' },
      { key: 'gracePeriodSeconds', label: fieldLabel('gracePeriodSeconds'), unit: 's' },
      { key: 'warnBeforeSeconds', label: fieldLabel('warnBeforeSeconds'), unit: 's' },
    ],
  },
  {
    title: 'Concurrency and quota',
    fields: [
      { key: 'maxConcurrentJobs', label: fieldLabel('maxConcurrentJobs'), unit: '' },
      { key: 'maxQueuedJobs', label: fieldLabel('maxQueuedJobs'), unit: '' },
      { key: 'maxRetries', label: fieldLabel('maxRetries'), unit: '' },
      { key: 'monthlyQuotaSeconds', label: fieldLabel('monthlyQuotaSeconds'), unit: 's', nullable: true },
    ],
  },
  {
    title: 'TTL after finish',
    fields: [
      { key: 'ttlSucceededSeconds', label: fieldLabel('ttlSucceededSeconds'), unit: 's' },
      { key: 'ttlFailedSeconds', label: fieldLabel('ttlFailedSeconds'), unit: 's' },
      { key: 'ttlTimedOutSeconds', label: fieldLabel('ttlTimedOutSeconds'), unit: 's' },
      { key: 'ttlKilledSeconds', label: fieldLabel('ttlKilledSeconds'), unit: 's' },
      { key: 'ttlLostSeconds', label: fieldLabel('ttlLostSeconds'), unit: 's' },
    ],
  },
  {
    title: 'Container fence',
    fields: [
      { key: 'cpus', label: fieldLabel('cpus'), step: '0.1' },
      { key: 'memoryMb', label: fieldLabel('memoryMb'), unit: 'MB' },
      { key: 'pidsLimit', label: fieldLabel('pidsLimit'), unit: '' },
      { key: 'network', label: fieldLabel('network'), text: true, hint: '"warden" (isolated bridge), "none", or a network name' },
      { key: 'runtime', label: fieldLabel('runtime'), text: true, nullable: true, hint: 'blank = engine default; e.g. runsc' },
    ],
  },
  {
    title: 'What a job may ask for',
    fields: [
      { key: 'maxEnvVars', label: fieldLabel('maxEnvVars'), unit: '' },
      { key: 'maxEnvBytes', label: fieldLabel('maxEnvBytes'), unit: '' },
      { key: 'maxCommandArgs', label: fieldLabel('maxCommandArgs'), unit: '' },
      { key: 'maxCommandBytes', label: fieldLabel('maxCommandBytes'), unit: '' },
      { key: 'maxLabels', label: fieldLabel('maxLabels'), unit: '' },
      { key: 'maxLabelBytes', label: fieldLabel('maxLabelBytes'), unit: '' },
    ],
  },
  {
    title: 'Idle and results',
    fields: [
      { key: 'idleTimeoutSeconds', label: fieldLabel('idleTimeoutSeconds'), unit: 's', nullable: true },
      { key: 'maxResultsMb', label: fieldLabel('maxResultsMb'), unit: 'MB' },
      { key: 'maxResultsTotalMb', label: 'Max results per user, total (MB)', unit: 'MB' },
      { key: 'resultsPath', label: fieldLabel('resultsPath'), nullable: true, text: true },
    ],
  },
];
const FIELDS = GROUPS.flatMap((g) => g.fields);

const toForm = (p: Plan) => toFormValues(FIELDS, p);
/** Form values → the PUT body, checked with the API's own schema. */
const fromForm = (v: Record<string, string>) => {
  const f = fromFormValues(FIELDS, v, planFieldsSchema);
  return f.error ? { ...f, error: { ...f.error, message: fieldsInWords(f.error.message) } } : f;
};

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
        <PlansTable plans={d.plans} editable={me.can('admin')} />
      )}
    </div>
  );
}

/** "5m / 1h": a default and a maximum at a glance. */
const pair = (a: string, b: string) => `${a} / ${b}`;
const num = (n: number | null | undefined) => (n == null ? '—' : String(n));

/**
 * Every plan on one line: its limits at a glance, how many users are on it and how many of their
 * jobs run now. Edit (View below admin) opens the plan's form in a drawer.
 */
function PlansTable({ plans, editable }: { plans: Plan[]; editable: boolean }) {
  const [open, setOpen] = useState<string | null>(null);
  const plan = plans.find((p) => p.name === open) ?? null;
  return (
    <Card bodyClassName="">
      <Table label="Plans">
        <THead columns={['Plan', 'Timeout (default / max)', 'Grace', 'Concurrent / queued', 'Monthly quota', 'CPUs / memory', 'Users', 'Running']} actions />
        <TBody>
          {plans.map((p) => (
            <tr key={p.name} data-plan={p.name} className="hover:bg-zinc-50/70">
              <td className={`${td} font-medium`}>{p.name}</td>
              <td className={`${td} whitespace-nowrap tabular-nums`}>{pair(formatLimit(p.defaultTimeoutSeconds), formatLimit(p.maxTimeoutSeconds))}</td>
              <td className={`${td} whitespace-nowrap tabular-nums`}>{formatLimit(p.gracePeriodSeconds)}</td>
              <td className={`${td} whitespace-nowrap tabular-nums`}>{pair(num(p.maxConcurrentJobs), num(p.maxQueuedJobs))}</td>
              <td className={`${td} whitespace-nowrap tabular-nums`}>{p.monthlyQuotaSeconds == null ? 'none' : formatLimit(p.monthlyQuotaSeconds)}</td>
              <td className={`${td} whitespace-nowrap tabular-nums`}>{pair(p.cpus == null ? '—' : String(p.cpus), p.memoryMb == null ? '—' : `${p.memoryMb} MB`)}</td>
              <td className={`${td} tabular-nums`}>{p.users}</td>
              <td className={`${td} tabular-nums`}>{p.running}</td>
              <td className={`${td} ${stickyAction} text-right`}>
                <Button size="sm" aria-label={`${editable ? 'Edit' : 'View'} plan ${p.name}`} onClick={() => setOpen(p.name)}>
                  {editable ? 'Edit' : 'View'}
                </Button>
              </td>
            </tr>
          ))}
        </TBody>
      </Table>
      <Drawer open={plan != null} onOpenChange={(o) => !o && setOpen(null)} title={plan ? `${editable ? 'Edit' : 'View'} plan ${plan.name}` : 'Plan'} description="Running jobs keep their deadlines when a plan changes.">
        {plan ? <PlanEditor key={plan.name} plan={plan} editable={editable} /> : null}
      </Drawer>
    </Card>
  );
}

function PlanEditor({ plan, editable }: { plan: Plan; editable: boolean }) {
  const [vals, setVals] = useState(() => toForm(plan));
  const [base, setBase] = useState(() => toForm(plan));
  const [clientErr, setClientErr] = useState<{ field: string; message: string } | null>(null);
  const [preview, setPreview] = useState<{ notes: string[]; runningJobs: number; queuedJobs: number; error?: boolean } | null>(null);
  const save = useServerAction(savePlanAction, { errorToast: false });
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
        .then((r) => setPreview(r.ok && r.data ? r.data : r.ok ? null : { notes: [fieldsInWords(r.error.message)], runningJobs: 0, queuedJobs: 0, error: true }))
        .catch(() => {});
    }, 500);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [valsKey, dirty, plan.name]);
  const serverErr = save.error ? { ...save.error, message: fieldsInWords(save.error.message) } : null;
  const err = clientErr ?? serverErr;
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
              <Button size="sm" variant="ghost" onClick={() => { setVals(base); setClientErr(null); save.setError(null); setPreview(null); }}>
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
        <div className="grid gap-x-6 gap-y-5 md:grid-cols-2">
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
                      onChange={(e) => {
                        setVals({ ...vals, [f.key]: e.target.value });
                        // An answer about the old values must not linger while the new one loads.
                        setPreview(null);
                      }}
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
        {editable && dirty && preview && !(preview.error && err) ? (
          <div aria-live="polite" data-testid="plan-preview" className="mt-4 rounded-lg bg-indigo-50 px-4 py-3 text-sm text-indigo-950 ring-1 ring-inset ring-indigo-200">
            <p className="font-medium">
              {preview.error
                ? 'This change cannot be saved:'
                : `If you save: ${preview.runningJobs} running and ${preview.queuedJobs} queued job${preview.queuedJobs === 1 ? '' : 's'} on this plan`}
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
