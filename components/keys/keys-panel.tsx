'use client';

import { useState } from 'react';
import { createKeyAction, revokeKeyAction } from '@/server/actions/keys';
import type { KeysData } from '@/server/dashboard/loaders';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { TBody, THead, Table, td } from '../ui/card';
import { CopyButton } from '../ui/copy-button';
import { ConfirmDialog } from '../ui/dialog';
import { SelectField } from '../ui/field';
import { EmptyState, QueryFallback } from '../ui/states';
import { Badge } from '../ui/status';
import { RelTime } from '../ui/time';

type Key = KeysData['keys'][number];
const EXPIRY = [
  { label: 'Never expires', days: '' },
  { label: 'Expires in 7 days', days: '7' },
  { label: 'Expires in 30 days', days: '30' },
  { label: 'Expires in 90 days', days: '90' },
  { label: 'Expires in 1 year', days: '365' },
];

function state(k: Key, now: number): { label: string; tone: 'emerald' | 'red' | 'zinc' } {
  if (k.revokedAt) return { label: 'revoked', tone: 'red' };
  if (k.expiresAt && Date.parse(k.expiresAt) <= now) return { label: 'expired', tone: 'zinc' };
  return { label: 'active', tone: 'emerald' };
}

/**
 * A user's or operator's API keys (admin): prefix, created, last used, expiry, state; revoke one
 * (refused from the next request on) or create one (shown once, optional expiry).
 */
export function KeysPanel({ ownerKind, ownerId, label }: { ownerKind: 'user' | 'operator'; ownerId: string; label: string }) {
  const q = useViewQuery<KeysData>(['keys', ownerKind, ownerId], `/api/ui/keys?${ownerKind}=${encodeURIComponent(ownerId)}`, null, { refetchInterval: 5000 });
  const create = useServerAction(createKeyAction);
  const [days, setDays] = useState('');
  const [fresh, setFresh] = useState<string | null>(null);
  const [now] = useState(() => Date.now());
  return (
    <section aria-label={`API keys of ${label}`} className="space-y-3">
      <h3 className="text-sm font-semibold text-zinc-900">API keys</h3>
      {!q.data ? (
        <QueryFallback query={q} />
      ) : q.data.keys.length === 0 ? (
        <EmptyState inset title="No API keys" />
      ) : (
        <Table label={`API keys of ${label}`}>
          <THead columns={['Key', 'State', 'Created', 'Last used', 'Expires']} actions />
          <TBody>
            {q.data.keys.map((k) => (
              <KeyRow key={k.id} k={k} ownerKind={ownerKind} ownerId={ownerId} st={state(k, now)} />
            ))}
          </TBody>
        </Table>
      )}
      {fresh ? (
        <div className="flex flex-wrap items-center gap-2 text-xs text-zinc-700">
          <span>New key (shown once):</span>
          <code data-testid="new-api-key" className="rounded bg-zinc-100 px-1 font-mono break-all select-all">
            {fresh}
          </code>
          <CopyButton text={fresh} label="Copy key" />
        </div>
      ) : (
        <div className="flex items-end gap-2">
          <SelectField label="Expiry of a new key" className="w-48" value={days} onChange={(e) => setDays(e.target.value)}>
            {EXPIRY.map((o) => (
              <option key={o.days} value={o.days}>
                {o.label}
              </option>
            ))}
          </SelectField>
          <Button
            size="sm"
            busy={create.pending}
            onClick={() =>
              void create.run({ ownerKind, ownerId, ...(days ? { expiresInDays: Number(days) } : {}) }, { onOk: (d) => setFresh(d?.apiKey ?? null) })
            }
          >
            New API key
          </Button>
        </div>
      )}
    </section>
  );
}

function KeyRow({ k, ownerKind, ownerId, st }: { k: Key; ownerKind: 'user' | 'operator'; ownerId: string; st: ReturnType<typeof state> }) {
  const [confirm, setConfirm] = useState(false);
  const revoke = useServerAction(revokeKeyAction);
  return (
    <tr data-key={k.prefix}>
      <td className={`${td} font-mono text-xs`}>{k.prefix}…</td>
      <td className={td}>
        <Badge tone={st.tone}>{st.label}</Badge>
      </td>
      <td className={`${td} whitespace-nowrap text-xs`}>
        <RelTime iso={k.createdAt} />
      </td>
      <td className={`${td} whitespace-nowrap text-xs`}>{k.lastUsedAt ? <RelTime iso={k.lastUsedAt} /> : 'never'}</td>
      <td className={`${td} whitespace-nowrap text-xs`}>{k.expiresAt ? <RelTime iso={k.expiresAt} /> : 'never'}</td>
      <td className={`${td} text-right`}>
        {k.revokedAt ? null : (
          <>
            <Button size="sm" variant="danger" onClick={() => setConfirm(true)}>
              Revoke
            </Button>
            <ConfirmDialog
              open={confirm}
              onOpenChange={setConfirm}
              title={`Revoke key ${k.prefix}…?`}
              description="Every request with this key is refused from now on. This cannot be undone."
              error={revoke.error}
            >
              <Button variant="danger" busy={revoke.pending} onClick={() => void revoke.run({ ownerKind, ownerId, keyId: k.id }, { onOk: () => setConfirm(false) })}>
                Revoke key
              </Button>
            </ConfirmDialog>
          </>
        )}
      </td>
    </tr>
  );
}
