'use client';

import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { createOperatorAction, updateOperatorAction } from '@/server/actions/operators';
import type { OperatorsData } from '@/server/db/queries/views';
import { getJson } from '../lib/fetch-json';
import { useServerAction } from '../lib/use-action';
import { Button } from '../ui/button';
import { Card, PageHeader, Table, td, th } from '../ui/card';
import { DialogClose, Modal } from '../ui/dialog';
import { SelectField, TextField } from '../ui/field';
import { ErrorState, LiveDot, Loading } from '../ui/states';
import { Badge } from '../ui/status';
import { RelTime } from '../ui/time';

type Op = OperatorsData['operators'][number];
const ROLES = ['viewer', 'operator', 'admin'] as const;
const ROLE_HELP = 'Viewers read; operators also kill and extend; admins also edit plans, users, sweepers and operators.';

export function OperatorsView({ initial, initialError }: { initial: OperatorsData | null; initialError?: string | null }) {
  const q = useQuery({
    queryKey: ['operators'],
    queryFn: ({ signal }) => getJson<OperatorsData>('/api/ui/operators', signal),
    initialData: initial ?? undefined,
    initialDataUpdatedAt: initial ? Date.parse(initial.generatedAt) : undefined,
    refetchInterval: 5000,
  });
  const d = q.data;
  return (
    <div>
      <PageHeader title="Operators" description={ROLE_HELP} actions={<><LiveDot ok={!q.isError} /><CreateOperator /></>} />
      {!d ? (
        initialError || q.isError ? <ErrorState message={initialError ?? (q.error as Error).message} onRetry={() => void q.refetch()} /> : <Loading />
      ) : (
        <Card bodyClassName="">
          <Table label="Operators">
            <thead className="bg-zinc-50">
              <tr>
                <th scope="col" className={th}>Email</th>
                <th scope="col" className={th}>Role</th>
                <th scope="col" className={th}>Status</th>
                <th scope="col" className={th}>Created</th>
                <th scope="col" className={`${th} text-right`}><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 bg-white">
              {d.operators.map((o) => (
                <OperatorRow key={o.id} o={o} self={o.id === d.me} />
              ))}
            </tbody>
          </Table>
        </Card>
      )}
    </div>
  );
}

function OperatorRow({ o, self }: { o: Op; self: boolean }) {
  const [role, setRole] = useState<Op['role']>(o.role);
  const [confirm, setConfirm] = useState(false);
  const a = useServerAction(updateOperatorAction);
  return (
    <tr data-operator={o.email}>
      <td className={td}>
        <span className="font-medium">{o.email}</span> {self ? <Badge tone="indigo">you</Badge> : null}
      </td>
      <td className={td}>
        <form
          className="flex items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            void a.run({ id: o.id, role });
          }}
        >
          <SelectField label={`Role of ${o.email}`} className="w-32 [&>label]:sr-only" value={role} disabled={self} onChange={(e) => setRole(e.target.value as Op['role'])}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </SelectField>
          {role !== o.role ? (
            <Button size="sm" type="submit" variant="primary" busy={a.pending}>
              Save
            </Button>
          ) : null}
        </form>
      </td>
      <td className={td}>{o.disabled ? <Badge tone="red">disabled</Badge> : <Badge tone="emerald">active</Badge>}</td>
      <td className={`${td} whitespace-nowrap`}>
        <RelTime iso={o.createdAt} />
      </td>
      <td className={`${td} text-right`}>
        {self ? null : (
          <>
            <Button size="sm" variant={o.disabled ? 'secondary' : 'danger'} onClick={() => setConfirm(true)}>
              {o.disabled ? 'Enable' : 'Disable'}
            </Button>
            <Modal
              open={confirm}
              onOpenChange={setConfirm}
              title={o.disabled ? `Enable ${o.email}?` : `Disable ${o.email}?`}
              description={o.disabled ? 'They can log in again with their password.' : 'Their sessions and API keys stop working at once.'}
            >
              {a.error ? <p role="alert" className="mb-3 text-sm text-red-600">{a.error.message}</p> : null}
              <div className="flex justify-end gap-2">
                <DialogClose asChild>
                  <Button>Close</Button>
                </DialogClose>
                <Button variant={o.disabled ? 'primary' : 'danger'} busy={a.pending} onClick={() => void a.run({ id: o.id, role: o.role, disabled: !o.disabled }, { onOk: () => setConfirm(false) })}>
                  {o.disabled ? 'Enable operator' : 'Disable operator'}
                </Button>
              </div>
            </Modal>
          </>
        )}
      </td>
    </tr>
  );
}

function CreateOperator() {
  const [open, setOpen] = useState(false);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<(typeof ROLES)[number]>('viewer');
  const [password, setPassword] = useState('');
  const [generated, setGenerated] = useState<string | null | undefined>(undefined);
  const a = useServerAction(createOperatorAction);
  return (
    <>
      <Button
        variant="primary"
        onClick={() => {
          setOpen(true);
          setEmail('');
          setPassword('');
          setGenerated(undefined);
          a.setError(null);
        }}
      >
        New operator
      </Button>
      <Modal open={open} onOpenChange={setOpen} title="New operator" description={ROLE_HELP}>
        {generated !== undefined ? (
          <div className="space-y-3">
            {generated ? (
              <>
                <p className="text-sm text-zinc-700">Generated password for {email} (shown once):</p>
                <code className="block rounded bg-zinc-100 p-2 font-mono text-sm select-all">{generated}</code>
              </>
            ) : (
              <p className="text-sm text-zinc-700">{email} can log in with the password you set.</p>
            )}
            <div className="flex justify-end">
              <DialogClose asChild>
                <Button variant="primary">Done</Button>
              </DialogClose>
            </div>
          </div>
        ) : (
          <form
            className="space-y-4"
            onSubmit={(e) => {
              e.preventDefault();
              void a.run({ email: email.trim(), role, password: password || undefined }, { onOk: (d) => setGenerated(d?.password ?? null) });
            }}
          >
            <TextField label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required error={a.error?.field === 'email' ? a.error.message : null} />
            <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as (typeof ROLES)[number])}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </SelectField>
            <TextField
              label="Password (optional)"
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              hint="Leave blank to generate one."
              error={a.error?.field === 'password' ? a.error.message : null}
            />
            {a.error && a.error.field !== 'email' && a.error.field !== 'password' ? <p role="alert" className="text-sm text-red-600">{a.error.message}</p> : null}
            <div className="flex justify-end gap-2">
              <DialogClose asChild>
                <Button>Close</Button>
              </DialogClose>
              <Button type="submit" variant="primary" busy={a.pending}>
                Create operator
              </Button>
            </div>
          </form>
        )}
      </Modal>
    </>
  );
}
