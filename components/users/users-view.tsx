'use client';

import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useState } from 'react';
import { updateUserSchema } from '@/server/domain/schemas';
import { createUserAction, updateUserAction } from '@/server/actions/users';
import type { UsersData } from '@/server/dashboard/loaders';
import { KeysPanel } from '../keys/keys-panel';
import { CopyButton } from '../ui/copy-button';
import { formatLimit, formatNumber } from '../lib/format';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, td } from '../ui/card';
import { DialogClose, DialogFooter, DialogResult, Modal } from '../ui/dialog';
import { FormError, SelectField, TextField, fieldError } from '../ui/field';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { Badge } from '../ui/status';

type UserRow = UsersData['users'][number];

function Meter({ value, max, label }: { value: number; max: number | null; label: string }) {
  const pct = max ? Math.min(100, (value / max) * 100) : 0;
  const tone = max == null ? 'bg-zinc-300' : pct >= 100 ? 'bg-red-500' : pct >= 80 ? 'bg-amber-500' : 'bg-indigo-500';
  return (
    <div className="min-w-28">
      <div className="text-xs tabular-nums text-zinc-700">{label}</div>
      <div className="mt-1 h-1.5 w-full overflow-hidden rounded-full bg-zinc-100" role="meter" aria-label={label} aria-valuenow={value} aria-valuemin={0} aria-valuemax={max ?? undefined}>
        <div className={`h-full ${tone}`} style={{ width: `${max == null ? 0 : pct}%` }} />
      </div>
    </div>
  );
}

export function UsersView({ initial, initialError }: { initial: UsersData | null; initialError?: string | null }) {
  const sp = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const me = useMe();
  const search = sp.get('q') ?? '';
  const after = sp.get('after') ?? '';
  const qs = new URLSearchParams({ ...(search ? { q: search } : {}), ...(after ? { after } : {}) }).toString();
  const q = useViewQuery(['users', qs], `/api/ui/users?${qs}`, initial, { refetchInterval: 5000, keepPrevious: true });
  const [text, setText] = useState(search);
  const [editing, setEditing] = useState<UserRow | null>(null);
  const d = q.data;
  return (
    <div>
      <PageHeader
        title="Users"
        description={d ? `Running vs limit, queue, and usage in ${d.month} vs quota.` : undefined}
        actions={
          <>
            <LiveDot ok={!q.isError} />
            {me.can('admin') && d ? <CreateUser plans={d.plans} /> : null}
          </>
        }
      />
      <form
        role="search"
        className="mb-4 flex items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          router.push(text.trim() ? `${pathname}?q=${encodeURIComponent(text.trim())}` : pathname);
        }}
      >
        <TextField label="Search users" className="w-64" value={text} onChange={(e) => setText(e.target.value)} />
        <Button type="submit" variant="primary">
          Search
        </Button>
      </form>
      {!d ? (
        <QueryFallback query={q} initialError={initialError} />
      ) : d.users.length === 0 ? (
        <EmptyState title={search ? 'No users match' : 'No users yet'}>{me.can('admin') && !search ? 'Create one with “New user” or the CLI.' : null}</EmptyState>
      ) : (
        <Card bodyClassName="">
          <Table label="Users">
            <THead columns={['User', 'Plan', 'Running / limit', 'Queued / limit', 'Usage this month', 'Timeout (default / max)']} actions />
            <TBody>
              {d.users.map((u) => {
                const overridden = Object.values(u.overrides).some((v) => v != null);
                return (
                  <tr key={u.id} data-user={u.name}>
                    <td className={td}>
                      <a href={`/jobs?tab=running&user=${encodeURIComponent(u.name)}`} className="font-medium text-zinc-900 hover:text-indigo-700 hover:underline">
                        {u.name}
                      </a>
                      <div className="font-mono text-xs text-zinc-500">{u.id.slice(0, 8)}</div>
                    </td>
                    <td className={td}>
                      <span className="inline-flex items-center gap-1.5">
                        {u.plan}
                        {overridden ? <Badge tone="indigo" title="This user has per-user overrides">overrides</Badge> : null}
                      </span>
                    </td>
                    <td className={td}>
                      <Meter value={u.running} max={u.limits.maxConcurrentJobs} label={`${u.running} / ${u.limits.maxConcurrentJobs}`} />
                    </td>
                    <td className={td}>
                      <Meter value={u.queued} max={u.limits.maxQueuedJobs} label={`${u.queued} / ${formatNumber(u.limits.maxQueuedJobs)}`} />
                    </td>
                    <td className={td}>
                      <Meter value={u.usageSeconds} max={u.limits.monthlyQuotaSeconds} label={`${formatLimit(Math.round(u.usageSeconds)) || '0s'} / ${u.limits.monthlyQuotaSeconds != null ? formatLimit(u.limits.monthlyQuotaSeconds) : 'no quota'}`} />
                    </td>
                    <td className={`${td} whitespace-nowrap text-xs`}>
                      {formatLimit(u.limits.defaultTimeoutSeconds)} / {formatLimit(u.limits.maxTimeoutSeconds)}
                    </td>
                    <td className={`${td} text-right`}>
                      {me.can('admin') ? (
                        <Button size="sm" onClick={() => setEditing(u)}>
                          Edit
                        </Button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </TBody>
          </Table>
          {d.nextAfter ? (
            <div className="border-t border-zinc-100 px-4 py-2 text-right">
              <Button size="sm" onClick={() => router.push(`${pathname}?${new URLSearchParams({ ...(search ? { q: search } : {}), after: d.nextAfter! }).toString()}`)}>
                Next
              </Button>
            </div>
          ) : null}
        </Card>
      )}
      {editing && d ? <EditUser key={editing.id} user={editing} plans={d.plans} onClose={() => setEditing(null)} /> : null}
    </div>
  );
}

const OVERRIDES = [
  { key: 'maxConcurrentJobs', label: 'Max concurrent jobs' },
  { key: 'maxQueuedJobs', label: 'Max queued jobs' },
  { key: 'defaultTimeoutSeconds', label: 'Default timeout (s)' },
  { key: 'maxTimeoutSeconds', label: 'Max timeout (s)' },
  { key: 'monthlyQuotaSeconds', label: 'Monthly quota (s)' },
] as const;

function EditUser({ user, plans, onClose }: { user: UserRow; plans: string[]; onClose: () => void }) {
  const [plan, setPlan] = useState(user.plan);
  const [vals, setVals] = useState<Record<string, string>>(() => Object.fromEntries(OVERRIDES.map((o) => [o.key, user.overrides[o.key] == null ? '' : String(user.overrides[o.key])])));
  const [clientErr, setClientErr] = useState<{ field?: string; message: string } | null>(null);
  const a = useServerAction(updateUserAction);
  const err = clientErr ?? a.error;
  return (
    <Modal open onOpenChange={(o) => !o && onClose()} title={`Edit user ${user.name}`} description="Blank override fields use the plan's value." wide>
      <form
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          const changes: Record<string, unknown> = {};
          if (plan !== user.plan) changes.plan = plan;
          for (const o of OVERRIDES) {
            const raw = vals[o.key]!.trim();
            const v = raw === '' ? null : Number(raw);
            if (v !== (user.overrides[o.key] ?? null)) changes[o.key] = v;
          }
          const p = updateUserSchema.safeParse(changes);
          if (!p.success) {
            const i = p.error.issues[0]!;
            setClientErr({ field: i.path.map(String).join('.'), message: i.message });
            return;
          }
          setClientErr(null);
          void a.run({ id: user.id, changes }, { onOk: onClose });
        }}
      >
        <SelectField label="Plan" value={plan} onChange={(e) => setPlan(e.target.value)} error={fieldError(err, 'plan')} options={plans} />
        <div className="grid gap-3 sm:grid-cols-2">
          {OVERRIDES.map((o) => (
            <TextField
              key={o.key}
              label={o.label}
              type="number"
              inputMode="numeric"
              value={vals[o.key]}
              placeholder={`plan: ${user.limits[o.key] ?? 'none'}`}
              onChange={(e) => setVals({ ...vals, [o.key]: e.target.value })}
              error={fieldError(err, o.key)}
            />
          ))}
        </div>
        <FormError error={err} fields={['plan', ...OVERRIDES.map((o) => o.key)]} />
        <div className="flex items-center justify-end gap-2">
          <div className="flex gap-2">
            <DialogClose asChild>
              <Button>Close</Button>
            </DialogClose>
            <Button type="submit" variant="primary" busy={a.pending}>
              Save
            </Button>
          </div>
        </div>
      </form>
      <div className="mt-5 border-t border-zinc-100 pt-4">
        <KeysPanel ownerKind="user" ownerId={user.id} label={user.name} />
      </div>
    </Modal>
  );
}

function CreateUser({ plans }: { plans: string[] }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [plan, setPlan] = useState(plans[0] ?? 'free');
  const [created, setCreated] = useState<{ apiKey: string } | null>(null);
  const a = useServerAction(createUserAction);
  return (
    <>
      <Button variant="primary" onClick={() => { setOpen(true); setCreated(null); setName(''); a.setError(null); }}>
        New user
      </Button>
      <Modal open={open} onOpenChange={setOpen} title="New user" description="The user's API key is shown once.">
        {created ? (
          <DialogResult>
            <p className="text-sm text-zinc-700">API key for {name}:</p>
            <code data-testid="new-api-key" className="block break-all rounded bg-zinc-100 p-2 font-mono text-xs select-all">
              {created.apiKey}
            </code>
            <CopyButton text={created.apiKey} label="Copy key" />
          </DialogResult>
        ) : (
          <form
            className="space-y-4"
            onSubmit={(e) => {
              e.preventDefault();
              void a.run({ name: name.trim(), plan }, { onOk: (d) => d && setCreated({ apiKey: d.apiKey }) });
            }}
          >
            <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} required error={fieldError(a.error, 'name')} />
            <SelectField label="Plan" value={plan} onChange={(e) => setPlan(e.target.value)} options={plans} />
            <FormError error={a.error} fields={['name']} />
            <DialogFooter>
              <Button type="submit" variant="primary" busy={a.pending}>
                Create user
              </Button>
            </DialogFooter>
          </form>
        )}
      </Modal>
    </>
  );
}
