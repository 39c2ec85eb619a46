'use client';

import Link from 'next/link';
import { useState } from 'react';
import { removeOrphanAction } from '@/server/actions/sweepers';
import type { OrphansData } from '@/server/dashboard/loaders';
import { formatDuration } from '../lib/format';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, td } from '../ui/card';
import { ConfirmDialog } from '../ui/dialog';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { StatusChip } from '../ui/status';
import { RelTime } from '../ui/time';
import { NodeRef } from '../nodes/node-ref';

export function OrphansView({ initial, initialError }: { initial: OrphansData | null; initialError?: string | null }) {
  const q = useViewQuery(['orphans'], '/api/ui/orphans', initial, { refetchInterval: 5000 });
  const d = q.data;
  return (
    <div>
      <PageHeader
        title="Orphans"
        description="Managed containers with no live job (removed after the orphan grace period), and jobs whose container is gone. This is what the orphan sweeper sees now."
        actions={<LiveDot ok={!q.isError} />}
      />
      {!d ? (
        <QueryFallback query={q} initialError={initialError} title="The orphan report is unavailable" />
      ) : (
        <div className="space-y-5">
          {!d.dockerOk ? (
            <p role="alert" className="rounded-lg bg-amber-50 px-4 py-3 text-sm text-amber-900 ring-1 ring-amber-200">
              Docker is unreachable, so containers cannot be listed right now.
            </p>
          ) : null}
          <Card title={`Orphaned containers (${d.containers.length})`} bodyClassName="">
            {d.containers.length === 0 ? (
              <EmptyState inset title="No orphaned containers" />
            ) : (
              <Table label="Orphaned containers">
                <THead columns={['Container', 'Job', 'Why', 'Age', 'Removed']} actions />
                <TBody>
                  {d.containers.map((c) => (
                    <tr key={c.id}>
                      <td className={td}>
                        <div className="font-mono text-xs">{c.id.slice(0, 12)}</div>
                        <div className="text-xs text-zinc-500">{c.name}</div>
                      </td>
                      <td className={td}>
                        {c.jobId ? (
                          <Link href={`/jobs/${c.jobId}`} className="font-mono text-xs text-indigo-700 hover:underline">
                            {c.jobId.slice(0, 8)}
                          </Link>
                        ) : (
                          <span className="text-zinc-500">none</span>
                        )}
                        {c.attempt ? <span className="ml-1 text-xs text-zinc-500">attempt {c.attempt}</span> : null}
                      </td>
                      <td className={`${td} text-xs text-zinc-700`}>{c.reason}</td>
                      <td className={`${td} whitespace-nowrap`}>{formatDuration(c.ageSeconds)}</td>
                      <td className={`${td} whitespace-nowrap`}>
                        <RelTime iso={c.removableAt} />
                      </td>
                      <td className={`${td} text-right`}>
                        <RemoveButton containerId={c.id} />
                      </td>
                    </tr>
                  ))}
                </TBody>
              </Table>
            )}
          </Card>
          <Card title={`Jobs whose container is gone (${d.lostJobs.length})`} bodyClassName="">
            {d.lostJobs.length === 0 ? (
              <EmptyState inset title="Every running job has its container" />
            ) : (
              <Table label="Jobs whose container is gone">
                <THead columns={['Job', 'Status', 'Container', 'Node', 'Why']} />
                <TBody>
                  {d.lostJobs.map((j) => (
                    <tr key={j.jobId}>
                      <td className={td}>
                        <Link href={`/jobs/${j.jobId}`} className="font-medium text-zinc-900 hover:text-indigo-700 hover:underline">
                          {j.name ?? j.jobId.slice(0, 8)}
                        </Link>
                      </td>
                      <td className={td}>
                        <StatusChip status={j.status} />
                      </td>
                      <td className={`${td} font-mono text-xs`}>{j.containerId?.slice(0, 12) ?? '—'}</td>
                      <td className={td}>
                        <NodeRef node={j.node} />
                      </td>
                      <td className={`${td} text-xs text-zinc-700`}>{j.reason}</td>
                    </tr>
                  ))}
                </TBody>
              </Table>
            )}
          </Card>
          <Card title={`Running children of ended parents (${d.orphanedChildren.length})`} bodyClassName="">
            {d.orphanedChildren.length === 0 ? (
              <EmptyState inset title="No orphaned child jobs" />
            ) : (
              <ul className="divide-y divide-zinc-100">
                {d.orphanedChildren.map((c) => (
                  <li key={c.jobId} className="px-4 py-2 text-sm">
                    <Link href={`/jobs/${c.jobId}`} className="font-mono text-xs text-indigo-700 hover:underline">
                      {c.jobId.slice(0, 8)}
                    </Link>{' '}
                    — parent{' '}
                    <Link href={`/jobs/${c.parentId}`} className="font-mono text-xs text-indigo-700 hover:underline">
                      {c.parentId.slice(0, 8)}
                    </Link>{' '}
                    is {c.parentStatus}
                  </li>
                ))}
              </ul>
            )}
          </Card>
        </div>
      )}
    </div>
  );
}

function RemoveButton({ containerId }: { containerId: string }) {
  const me = useMe();
  const [open, setOpen] = useState(false);
  const a = useServerAction(removeOrphanAction);
  if (!me.can('operator')) return null;
  return (
    <>
      <Button size="sm" variant="danger" onClick={() => setOpen(true)}>
        Remove now
      </Button>
      <ConfirmDialog
        open={open}
        onOpenChange={setOpen}
        title={`Remove container ${containerId.slice(0, 12)}?`}
        description="The container is re-inspected first; it is removed only if it is still a Warden-managed orphan."
        error={a.error}
        cancel="Keep it"
      >
        <Button variant="danger" busy={a.pending} onClick={() => void a.run({ containerId }, { onOk: () => setOpen(false) })}>
          Remove container
        </Button>
      </ConfirmDialog>
    </>
  );
}
