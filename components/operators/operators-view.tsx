'use client';

import { useState } from 'react';
import { createOperatorAction, updateOperatorAction } from '@/server/actions/operators';
import type { OperatorsData } from '@/server/dashboard/loaders';
import { KeysPanel } from '../keys/keys-panel';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, td } from '../ui/card';
import { ConfirmDialog, DialogFooter, DialogResult, Modal } from '../ui/dialog';
import { FormError, SelectField, TextField, fieldError } from '../ui/field';
import { LiveDot, QueryFallback } from '../ui/states';
import { Badge } from '../ui/status';
import { RelTime } from '../ui/time';

type Op = OperatorsData['operators'][number];
const ROLES = ['viewer', 'operator', 'admin'] as const;
const ROLE_HELP = 'Viewers read; operators also kill and extend; admins also edit plans, users, sweepers and operators.';

export function OperatorsView({ initial, initialError }: { initial: OperatorsData | null; initialError?: string | null }) {
  const q = useViewQuery(['operators'], '/api/ui/operators', initial, { refetchInterval: 5000 });
  const d = q.data;
  return (
    <div>
      <PageHeader title="Operators" description={ROLE_HELP} actions={<><LiveDot ok={!q.isError} /><CreateOperator /></>} />
      {!d ? (
        <QueryFallback query={q} initialError={initialError} />
      ) : (
        <Card bodyClassName="">
          <Table label="Operators">
            <THead columns={['Email', 'Role', 'Status', 'Created']} actions />
            <TBody>
              {d.operators.map((o) => (
                <OperatorRow key={o.id} o={o} self={o.id === d.me} />
              ))}
            </TBody>
          </Table>
        </Card>
      )}
    </div>
  );
}

function OperatorRow({ o, self }: { o: Op; self: boolean }) {
  const [role, setRole] = useState<Op['role']>(o.role);
  const [confirm, setConfirm] = useState(false);
  const [keys, setKeys] = useState(false);
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
          <SelectField label={`Role of ${o.email}`} className="w-32 [&>label]:sr-only" value={role} disabled={self} onChange={(e) => setRole(e.target.value as Op['role'])} options={ROLES} />
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
      <td className={`${td} whitespace-nowrap text-right`}>
        <Button size="sm" variant="ghost" onClick={() => setKeys(true)}>
          API keys
        </Button>
        <Modal open={keys} onOpenChange={setKeys} title={`API keys of ${o.email}`} description="Revoked keys are refused from the next request on." wide>
          {keys ? <KeysPanel ownerKind="operator" ownerId={o.id} label={o.email} /> : null}
        </Modal>{' '}
        {self ? null : (
          <>
            <Button size="sm" variant={o.disabled ? 'secondary' : 'danger'} onClick={() => setConfirm(true)}>
              {o.disabled ? 'Enable' : 'Disable'}
            </Button>
            <ConfirmDialog
              open={confirm}
              onOpenChange={setConfirm}
              title={o.disabled ? `Enable ${o.email}?` : `Disable ${o.email}?`}
              description={o.disabled ? 'They can log in again with their password.' : 'Their sessions and API keys stop working at once.'}
              error={a.error}
            >
              <Button variant={o.disabled ? 'primary' : 'danger'} busy={a.pending} onClick={() => void a.run({ id: o.id, role: o.role, disabled: !o.disabled }, { onOk: () => setConfirm(false) })}>
                {o.disabled ? 'Enable operator' : 'Disable operator'}
              </Button>
            </ConfirmDialog>
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
          <DialogResult>
            {generated ? (
              <>
                <p className="text-sm text-zinc-700">Generated password for {email} (shown once):</p>
                <code className="block rounded bg-zinc-100 p-2 font-mono text-sm select-all">{generated}</code>
              </>
            ) : (
              <p className="text-sm text-zinc-700">{email} can log in with the password you set.</p>
            )}
          </DialogResult>
        ) : (
          <form
            className="space-y-4"
            onSubmit={(e) => {
              e.preventDefault();
              void a.run({ email: email.trim(), role, password: password || undefined }, { onOk: (d) => setGenerated(d?.password ?? null) });
            }}
          >
            <TextField label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required error={fieldError(a.error, 'email')} />
            <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as (typeof ROLES)[number])} options={ROLES} />
            <TextField
              label="Password (optional)"
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              hint="Leave blank to generate one."
              error={fieldError(a.error, 'password')}
            />
            <FormError error={a.error} fields={['email', 'password']} />
            <DialogFooter>
              <Button type="submit" variant="primary" busy={a.pending}>
                Create operator
              </Button>
            </DialogFooter>
          </form>
        )}
      </Modal>
    </>
  );
}
