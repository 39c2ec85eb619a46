'use client';

import Link from 'next/link';
import { useState } from 'react';
import { createWebhookAction, deleteWebhookAction, pingWebhookAction, redeliverAction } from '@/server/actions/webhooks';
import type { WebhooksData } from '@/server/dashboard/loaders';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, td } from '../ui/card';
import { CopyButton } from '../ui/copy-button';
import { ConfirmDialog, DialogFooter, DialogResult, Modal } from '../ui/dialog';
import { FormError, TextField, fieldError } from '../ui/field';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { Badge } from '../ui/status';
import { RelTime } from '../ui/time';

type Hook = WebhooksData['webhooks'][number];
type Delivery = WebhooksData['deliveries'][number];
type Attempt = WebhooksData['attempts'][number];

const STATUS_TONE = { pending: 'amber', delivered: 'emerald', failed: 'red' } as const;

export function WebhooksView({ initial, initialError }: { initial: WebhooksData | null; initialError?: string | null }) {
  const [selected, setSelected] = useState<string | null>(initial?.selected ?? null);
  const [status, setStatus] = useState<string>(initial?.status ?? '');
  const params = new URLSearchParams();
  if (selected) params.set('webhook', selected);
  if (status) params.set('status', status);
  const first = selected === (initial?.selected ?? null) && status === (initial?.status ?? '');
  const q = useViewQuery(['webhooks', selected, status], `/api/ui/webhooks?${params}`, first ? initial : null, { refetchInterval: 5000, keepPrevious: true });
  const d = q.data;
  const current = d?.webhooks.find((w) => w.id === (d.selected ?? selected)) ?? null;
  return (
    <div>
      <PageHeader
        title="Webhooks"
        description="Subscriptions to job events (created here or with POST /api/v1/webhooks), and what was delivered: signed POSTs, retried with backoff for up to 24 h."
        actions={
          <>
            <LiveDot ok={!q.isError} />
            <NewWebhook />
          </>
        }
      />
      {!d ? (
        <QueryFallback query={q} initialError={initialError} title="Webhooks are unavailable" />
      ) : d.webhooks.length === 0 ? (
        <Card>
          <EmptyState title="No webhooks yet">
            A user key subscribes to its own jobs, an operator key to every job or one user&apos;s: <code className="text-xs">POST /api/v1/webhooks {'{"url": "https://…"}'}</code>
          </EmptyState>
        </Card>
      ) : (
        <div className="space-y-5">
          <Card title={`Subscriptions (${d.webhooks.length})`} bodyClassName="">
            <Table label="Webhooks">
              <THead columns={['URL', 'Jobs', 'Events', 'Deliveries', 'Created']} actions />
              <TBody>
                {d.webhooks.map((w) => (
                  <tr key={w.id} data-webhook-id={w.id} aria-selected={w.id === current?.id} className={w.id === current?.id ? 'bg-indigo-50/60' : 'hover:bg-zinc-50/70'}>
                    <td className={`${td} max-w-md`}>
                      <button type="button" onClick={() => setSelected(w.id)} className="break-all text-left font-mono text-xs text-indigo-700 hover:underline" title="Show its deliveries">
                        {w.url}
                      </button>
                    </td>
                    <td className={`${td} whitespace-nowrap text-xs`}>{w.userId ? <span>user {w.userName ?? w.userId.slice(0, 8)}</span> : <span className="text-zinc-600">all jobs</span>}</td>
                    <td className={`${td} max-w-xs text-xs text-zinc-600`}>{w.events.length >= 10 ? 'all events' : w.events.join(', ')}</td>
                    <td className={`${td} whitespace-nowrap`}>
                      <span className="flex gap-1">
                        <Badge tone="emerald" title="delivered">{w.counts.delivered} ok</Badge>
                        {w.counts.pending ? <Badge tone="amber" title="pending">{w.counts.pending} pending</Badge> : null}
                        {w.counts.failed ? <Badge tone="red" title="failed">{w.counts.failed} failed</Badge> : null}
                      </span>
                    </td>
                    <td className={`${td} whitespace-nowrap text-xs`}>
                      <RelTime iso={w.createdAt} />
                      <div className="text-zinc-500">{w.createdBy}</div>
                    </td>
                    <td className={`${td} text-right`}>
                      <span className="flex justify-end gap-2">
                        <PingButton hook={w} onSent={() => setSelected(w.id)} />
                        <DeleteButton hook={w} />
                      </span>
                    </td>
                  </tr>
                ))}
              </TBody>
            </Table>
          </Card>
          {current ? (
            <Card
              title={<span>Deliveries to <span className="font-mono text-xs">{current.url}</span></span>}
              actions={
                <label className="flex items-center gap-2 text-xs text-zinc-600">
                  Status
                  <select value={status} onChange={(e) => setStatus(e.target.value)} className="rounded border border-zinc-300 px-1.5 py-0.5 text-xs">
                    <option value="">all</option>
                    <option value="pending">pending</option>
                    <option value="delivered">delivered</option>
                    <option value="failed">failed</option>
                  </select>
                </label>
              }
              bodyClassName=""
            >
              {d.deliveries.length === 0 ? (
                <EmptyState inset title="No deliveries yet" />
              ) : (
                <Table label="Deliveries">
                  <THead columns={['Event', 'Job', 'Status', 'Attempts', 'Last error', 'Next attempt', 'Delivered']} actions />
                  <TBody>
                    {d.deliveries.map((x) => (
                      <DeliveryRow key={x.id} x={x} />
                    ))}
                  </TBody>
                </Table>
              )}
            </Card>
          ) : null}
          {current ? (
            <Card title={<span>Attempts to <span className="font-mono text-xs">{current.url}</span></span>} bodyClassName="">
              {d.attempts.length === 0 ? (
                <EmptyState inset title="No attempts yet">Every send of every delivery shows here, failed ones included.</EmptyState>
              ) : (
                <Table label="Attempts">
                  <THead columns={['Time', 'Event', 'Answer', 'Duration', 'Request and response']} />
                  <TBody>
                    {d.attempts.map((x) => (
                      <AttemptRow key={x.id} x={x} />
                    ))}
                  </TBody>
                </Table>
              )}
            </Card>
          ) : null}
        </div>
      )}
    </div>
  );
}

/** One send: when, which event (and which try), the answer (failed ones in red), and the bodies on demand. */
function AttemptRow({ x }: { x: Attempt }) {
  return (
    <tr data-attempt-id={x.id} data-ok={x.ok} className={`align-top ${x.ok ? '' : 'bg-red-50/60'}`}>
      <td className={`${td} whitespace-nowrap text-xs`}>
        <RelTime iso={x.at} />
      </td>
      <td className={`${td} whitespace-nowrap font-mono text-xs`}>
        {x.event}
        <div className="text-zinc-500">attempt {x.attempt}</div>
      </td>
      <td className={`${td} max-w-xs`}>
        <span className="flex flex-wrap items-center gap-1">
          {x.responseStatus !== null ? <Badge tone={x.ok ? 'emerald' : 'red'}>HTTP {x.responseStatus}</Badge> : <Badge tone="red">no answer</Badge>}
          {x.ok ? null : <span className="text-xs font-medium text-red-700">failed</span>}
        </span>
        {/* No answer: the network error in words (an HTTP answer's body is under "Show bodies"). */}
        {x.responseStatus === null && x.error ? <p className="mt-1 line-clamp-2 break-all text-xs text-zinc-600" title={x.error}>{x.error}</p> : null}
      </td>
      <td className={`${td} whitespace-nowrap text-xs`}>{x.durationMs} ms</td>
      <td className={`${td} max-w-md text-xs`}>
        <details>
          <summary className="cursor-pointer text-indigo-700 hover:underline">Show bodies</summary>
          <p className="mt-2 font-medium text-zinc-700">Request body</p>
          <pre className="mt-1 max-h-48 overflow-auto whitespace-pre-wrap break-all rounded bg-zinc-100 p-2 font-mono text-[11px] text-zinc-900">{prettyJson(x.requestBody)}</pre>
          <p className="mt-2 font-medium text-zinc-700">Response (first 4 KB)</p>
          <pre className="mt-1 max-h-48 overflow-auto whitespace-pre-wrap break-all rounded bg-zinc-100 p-2 font-mono text-[11px] text-zinc-900">{x.responseBody === null ? '(no answer)' : x.responseBody || '(empty)'}</pre>
        </details>
      </td>
    </tr>
  );
}

function prettyJson(s: string): string {
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}

/** Queue a signed `webhook.test` to this subscription; one pending at a time (the server says so). */
function PingButton({ hook, onSent }: { hook: Hook; onSent: () => void }) {
  const me = useMe();
  const a = useServerAction(pingWebhookAction);
  if (!me.can('operator')) return null;
  return (
    <Button size="sm" busy={a.pending} onClick={() => void a.run({ id: hook.id }, { onOk: onSent })}>
      Send test ping
    </Button>
  );
}

function DeliveryRow({ x }: { x: Delivery }) {
  const me = useMe();
  const a = useServerAction(redeliverAction);
  return (
    <tr data-delivery-id={x.id}>
      <td className={`${td} whitespace-nowrap font-mono text-xs`}>
        {x.event}
        <div className="text-zinc-500">
          <RelTime iso={x.eventAt} />
        </div>
      </td>
      <td className={td}>
        {x.jobId ? (
          <Link href={`/jobs/${x.jobId}`} className="font-mono text-xs text-indigo-700 hover:underline">
            {x.jobId.slice(0, 8)}
          </Link>
        ) : (
          <span className="text-xs text-zinc-500">test ping</span>
        )}
      </td>
      <td className={td}>
        <Badge tone={STATUS_TONE[x.status as keyof typeof STATUS_TONE] ?? 'zinc'}>{x.status}</Badge>
      </td>
      <td className={`${td} text-xs`}>{x.attempts}</td>
      <td className={`${td} max-w-sm`}>
        <p className="line-clamp-2 break-all text-xs text-zinc-600" title={x.lastError ?? ''}>
          {x.lastError ?? '—'}
        </p>
      </td>
      <td className={`${td} whitespace-nowrap text-xs`}>{x.nextAttemptAt ? <RelTime iso={x.nextAttemptAt} /> : '—'}</td>
      <td className={`${td} whitespace-nowrap text-xs`}>{x.deliveredAt ? <RelTime iso={x.deliveredAt} /> : '—'}</td>
      <td className={`${td} text-right`}>
        {me.can('operator') ? (
          <Button size="sm" busy={a.pending} onClick={() => void a.run({ id: x.id })}>
            Redeliver
          </Button>
        ) : null}
      </td>
    </tr>
  );
}

function DeleteButton({ hook }: { hook: Hook }) {
  const me = useMe();
  const [open, setOpen] = useState(false);
  const a = useServerAction(deleteWebhookAction);
  if (!me.can('operator')) return null;
  return (
    <>
      <Button size="sm" variant="danger" onClick={() => setOpen(true)}>
        Delete
      </Button>
      <ConfirmDialog
        open={open}
        onOpenChange={setOpen}
        title="Delete this webhook?"
        description={<span className="break-all">{hook.url} stops receiving events; its pending deliveries are dropped.</span>}
        error={a.error}
        cancel="Keep it"
      >
        <Button variant="danger" busy={a.pending} onClick={() => void a.run({ id: hook.id }, { onOk: () => setOpen(false) })}>
          Delete webhook
        </Button>
      </ConfirmDialog>
    </>
  );
}

/** New webhook: a URL; on success the signing secret, shown once, with a copy button. */
function NewWebhook() {
  const me = useMe();
  const [open, setOpen] = useState(false);
  const [url, setUrl] = useState('');
  const [made, setMade] = useState<{ url: string; secret: string } | null>(null);
  const a = useServerAction(createWebhookAction, { errorToast: false });
  if (!me.can('operator')) return null;
  return (
    <>
      <Button
        variant="primary"
        onClick={() => {
          setOpen(true);
          setUrl('');
          setMade(null);
          a.setError(null);
        }}
      >
        New webhook
      </Button>
      <Modal
        open={open}
        onOpenChange={(o) => {
          setOpen(o);
          // The secret is forgotten when the dialog closes: it is shown once.
          if (!o) setMade(null);
        }}
        title={made ? 'Webhook created' : 'New webhook'}
        description={made ? 'Copy the signing secret now: it is not shown again.' : 'Every job event of every user is POSTed to this URL, signed with a secret (Warden-Signature).'}
      >
        {made ? (
          <DialogResult>
            <p className="break-all text-sm text-zinc-700">{made.url}</p>
            <div className="flex items-center gap-2">
              <code data-testid="webhook-secret" className="min-w-0 flex-1 break-all rounded bg-zinc-100 px-2 py-1.5 font-mono text-xs text-zinc-900">
                {made.secret}
              </code>
              <CopyButton text={made.secret} label="Copy secret" />
            </div>
          </DialogResult>
        ) : (
          <form
            className="space-y-4"
            onSubmit={(e) => {
              e.preventDefault();
              void a.run({ url }, { onOk: (d) => d && setMade({ url: d.url, secret: d.secret }) });
            }}
          >
            <TextField label="URL" type="url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://ci.example.com/warden-hook" error={fieldError(a.error, 'url')} required />
            <FormError error={a.error} fields={['url']} />
            <DialogFooter>
              <Button type="submit" variant="primary" busy={a.pending}>
                Create webhook
              </Button>
            </DialogFooter>
          </form>
        )}
      </Modal>
    </>
  );
}
