'use client';

import { useState } from 'react';
import { drainNodeAction, resumeNodeAction } from '@/server/actions/nodes';
import type { NodesData } from '@/server/dashboard/nodes';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, td } from '../ui/card';
import { ConfirmDialog } from '../ui/dialog';
import { TextField } from '../ui/field';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { RelTime } from '../ui/time';

type NodeRow = NodesData['nodes'][number];

const STATE_TONE: Record<NodeRow['state'], string> = {
  active: 'bg-emerald-50 text-emerald-700 ring-emerald-200',
  draining: 'bg-amber-50 text-amber-800 ring-amber-200',
  drained: 'bg-zinc-100 text-zinc-700 ring-zinc-300',
  down: 'bg-red-50 text-red-700 ring-red-200',
};

const mem = (mb: number) => (mb >= 1024 ? `${Math.round((mb / 1024) * 10) / 10} GiB` : `${Math.round(mb)} MiB`);
const num = (x: number) => String(Math.round(x * 100) / 100);

/** One capacity bar: used of total (unlimited: no bar, just the figure). */
function Bar({ label, used, total, show }: { label: string; used: number; total: number | null; show: (x: number) => string }) {
  const pct = total ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const tone = pct >= 90 ? 'bg-red-500' : pct >= 70 ? 'bg-amber-500' : 'bg-indigo-500';
  return (
    <div className="min-w-36">
      <div className="flex justify-between text-[11px] text-zinc-600">
        <span>{label}</span>
        <span>
          {show(used)} / {total == null ? 'unlimited' : show(total)}
        </span>
      </div>
      {total != null ? (
        <div role="meter" aria-label={`${label} allocated`} aria-valuemin={0} aria-valuemax={total} aria-valuenow={used} className="mt-0.5 h-1.5 w-full overflow-hidden rounded bg-zinc-100">
          <div className={`h-full ${tone}`} style={{ width: `${pct}%` }} />
        </div>
      ) : null}
    </div>
  );
}

export function NodesView({ initial, initialError }: { initial: NodesData | null; initialError?: string | null }) {
  const q = useViewQuery(['nodes'], '/api/ui/nodes', initial, { refetchInterval: 5000 });
  const d = q.data;
  return (
    <div>
      <PageHeader
        title="Nodes"
        description="Each worker node (one Docker engine): its capacity, what its jobs hold, and whether it takes new work. A drained node takes none; its running jobs run on."
        actions={<LiveDot ok={!q.isError} />}
      />
      {!d ? (
        <QueryFallback query={q} initialError={initialError} title="The nodes are unavailable" />
      ) : (
        <Card title={`Nodes (${d.nodes.length})`} bodyClassName="">
          {d.nodes.length === 0 ? (
            <EmptyState inset title="No worker has reported a heartbeat" />
          ) : (
            <Table label="Nodes">
              <THead columns={['Node', 'State', 'Running', 'Capacity', 'Labels', 'Heartbeat']} actions />
              <TBody>
                {d.nodes.map((n) => (
                  <tr key={n.id} data-node={n.id}>
                    <td className={td}>
                      <div className="font-medium">{n.name}</div>
                      <div className="font-mono text-[11px] text-zinc-500" title={n.id}>
                        {n.id.length > 28 ? `${n.id.slice(0, 27)}…` : n.id}
                      </div>
                    </td>
                    <td className={td}>
                      <span className={`rounded px-1.5 py-0.5 text-xs font-medium ring-1 ring-inset ${STATE_TONE[n.state]}`}>{n.state}</span>
                      {n.drain ? (
                        <div className="mt-1 max-w-56 text-xs text-zinc-600">
                          {n.drain.reason}
                          {n.drain.deadlineAt ? (
                            <>
                              {' '}
                              · deadline <RelTime iso={n.drain.deadlineAt} />
                            </>
                          ) : null}
                        </div>
                      ) : null}
                    </td>
                    <td className={`${td} tabular-nums`}>{n.running}</td>
                    <td className={td}>
                      <div className="space-y-1">
                        <Bar label="CPUs" used={n.allocated.cpus} total={n.capacity.cpus} show={num} />
                        <Bar label="Memory" used={n.allocated.memoryMb} total={n.capacity.memoryMb} show={mem} />
                        <Bar label="Jobs" used={n.allocated.jobs} total={n.capacity.maxJobs} show={num} />
                      </div>
                    </td>
                    <td className={`${td} text-xs`}>
                      {Object.keys(n.labels).length === 0 ? (
                        <span className="text-zinc-500">none</span>
                      ) : (
                        Object.entries(n.labels).map(([k, v]) => (
                          <span key={k} className="mr-1 inline-block rounded bg-zinc-100 px-1 font-mono">
                            {k}={v}
                          </span>
                        ))
                      )}
                    </td>
                    <td className={`${td} whitespace-nowrap text-xs`}>
                      <RelTime iso={n.heartbeatAt} />
                      {n.dockerOk ? '' : ' · Docker unreachable'}
                    </td>
                    <td className={`${td} text-right`}>
                      <NodeActions node={n} />
                    </td>
                  </tr>
                ))}
              </TBody>
            </Table>
          )}
        </Card>
      )}
      {d?.cluster ? <ClusterCard cluster={d.cluster} /> : null}
    </div>
  );
}

/** The cluster's own nodes (Kubernetes), read-only: its scheduler places the Pods. */
function ClusterCard({ cluster }: { cluster: NonNullable<NodesData['cluster']> }) {
  return (
    <div className="mt-4">
      <Card title={`Cluster nodes (${cluster.nodes.length}) · read-only`} bodyClassName="">
        <p className="px-4 pt-3 text-xs text-zinc-600">
          On Kubernetes the cluster&apos;s scheduler places each job&apos;s Pod; Warden shows its nodes and never drains or labels them.
        </p>
        {cluster.error ? (
          <p role="alert" className="px-4 py-3 text-sm text-red-700">
            The cluster did not answer: {cluster.error}
          </p>
        ) : cluster.nodes.length === 0 ? (
          <EmptyState inset title="No cluster nodes visible: Warden may not list them">
            Listing nodes is an optional, read-only permission (deploy/kubernetes/rbac-nodes.yaml). Without it jobs run as usual; only this list stays empty.
          </EmptyState>
        ) : (
          <Table label="Cluster nodes">
            <THead columns={['Node', 'Ready', 'Allocatable CPUs', 'Allocatable memory', "Warden's Pods"]} />
            <TBody>
              {cluster.nodes.map((n) => (
                <tr key={n.name} data-cluster-node={n.name}>
                  <td className={`${td} font-medium`}>{n.name}</td>
                  <td className={td}>
                    {n.ready ? 'ready' : 'not ready'}
                    {n.unschedulable ? ' · cordoned' : ''}
                  </td>
                  <td className={`${td} tabular-nums`}>{n.allocatableCpus == null ? '—' : num(n.allocatableCpus)}</td>
                  <td className={`${td} tabular-nums`}>{n.allocatableMemoryMb == null ? '—' : mem(n.allocatableMemoryMb)}</td>
                  <td className={`${td} tabular-nums`}>{n.wardenPods}</td>
                </tr>
              ))}
            </TBody>
          </Table>
        )}
      </Card>
    </div>
  );
}

function NodeActions({ node }: { node: NodeRow }) {
  const me = useMe();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [deadline, setDeadline] = useState('');
  const drain = useServerAction(drainNodeAction);
  const resume = useServerAction(resumeNodeAction);
  if (!me.can('operator')) return null;
  const draining = node.state === 'draining' || node.state === 'drained';
  const keep = node.allocated.jobs;
  const jobs = `${keep} job${keep === 1 ? '' : 's'}`;
  if (draining) {
    return (
      <>
        <Button size="sm" onClick={() => setOpen(true)}>
          Resume
        </Button>
        <ConfirmDialog
          open={open}
          onOpenChange={setOpen}
          title={`Resume ${node.name}?`}
          description="It takes new work again at once."
          error={resume.error}
          cancel="Keep it drained"
        >
          <Button variant="primary" busy={resume.pending} onClick={() => void resume.run({ id: node.id }, { onOk: () => setOpen(false) })}>
            Resume node
          </Button>
        </ConfirmDialog>
      </>
    );
  }
  return (
    <>
      <Button size="sm" variant="danger" onClick={() => setOpen(true)}>
        Drain
      </Button>
      <ConfirmDialog
        open={open}
        onOpenChange={(o) => {
          setOpen(o);
          if (!o) {
            setReason('');
            setDeadline('');
          }
        }}
        title={`Drain ${node.name}?`}
        description={
          <span>
            It takes no new work. {jobs} keep{keep === 1 ? 's' : ''} running
            {deadline ? ` until the deadline, then get${keep === 1 ? 's' : ''} the kill escalation` : ' to their own end'}.
          </span>
        }
        error={drain.error}
        cancel="Cancel"
      >
        <div className="mr-auto flex flex-1 flex-wrap items-end gap-2">
          <TextField label="Reason (audited)" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="kernel upgrade" required className="min-w-48 flex-1" />
          <TextField label="Deadline (seconds, optional)" value={deadline} onChange={(e) => setDeadline(e.target.value)} inputMode="numeric" className="w-44" />
        </div>
        <Button
          variant="danger"
          busy={drain.pending}
          onClick={() => void drain.run({ id: node.id, reason, ...(deadline.trim() ? { deadlineSeconds: Number(deadline) } : {}) }, { onOk: () => setOpen(false) })}
        >
          Drain node
        </Button>
      </ConfirmDialog>
    </>
  );
}
