'use client';

import { useState } from 'react';
import { runSweeperNowAction, setDryRunAction } from '@/server/actions/sweepers';
import type { SweepersData } from '@/server/dashboard/loaders';
import { formatLimit } from '../lib/format';
import { useMe } from '../lib/me';
import { useServerAction } from '../lib/use-action';
import { useViewQuery } from '../lib/use-view-query';
import { Button } from '../ui/button';
import { Card, PageHeader, TBody, THead, Table, td } from '../ui/card';
import { ConfirmDialog } from '../ui/dialog';
import { EmptyState, LiveDot, QueryFallback } from '../ui/states';
import { Badge } from '../ui/status';
import { RelTime } from '../ui/time';
import { NodeRef } from '../nodes/node-ref';

const WHAT: Record<string, string> = {
  timeout: 'Warns, then SIGTERM at the deadline, SIGKILL after the grace period.',
  ttl: 'Removes finished jobs’ containers after their TTL; purges old job rows.',
  orphans: 'Removes managed containers with no live job; marks jobs whose container vanished as lost.',
};

type Sweeper = SweepersData['sweepers'][number];

export function SweepersView({ initial, initialError }: { initial: SweepersData | null; initialError?: string | null }) {
  const q = useViewQuery(['sweepers'], '/api/ui/sweepers', initial, { refetchInterval: 3000 });
  const d = q.data;
  return (
    <div>
      <PageHeader title="Sweepers" description="The worker’s periodic jobs: schedule, recent runs, dry-run mode." actions={<LiveDot ok={!q.isError} />} />
      {!d ? (
        <QueryFallback query={q} initialError={initialError} title="Sweeper status is unavailable" />
      ) : (
        <div className="space-y-5">
          {d.sweepers.map((s) => (
            <SweeperCard key={s.name} s={s} />
          ))}
        </div>
      )}
    </div>
  );
}

function SweeperCard({ s }: { s: Sweeper }) {
  const me = useMe();
  const run = useServerAction(runSweeperNowAction);
  const last = s.lastRuns[0];
  return (
    <Card
      title={
        <span className="flex items-center gap-2">
          <span className="text-base">{s.name}</span>
          <span className="text-xs font-normal text-zinc-500">every {formatLimit(s.everySeconds)}</span>
          {s.dryRun ? <Badge tone="amber">dry-run{s.dryRunSource === 'env' ? ' (WARDEN_DRY_RUN)' : ''}</Badge> : <Badge tone="emerald">live</Badge>}
        </span>
      }
      actions={
        <div className="flex items-center gap-2">
          {me.can('admin') ? <DryRunToggle s={s} /> : null}
          {me.can('operator') ? (
            <Button size="sm" variant="primary" busy={run.pending} onClick={() => void run.run({ name: s.name })}>
              Run now
            </Button>
          ) : null}
        </div>
      }
      bodyClassName=""
    >
      <p className="px-4 pt-3 text-sm text-zinc-600">
        {WHAT[s.name] ?? ''} {last ? <>Last run <RelTime iso={last.startedAt} />.</> : 'It has not run yet.'}
      </p>
      {s.lastRuns.length === 0 ? (
        <EmptyState inset title="No runs recorded" />
      ) : (
        <div className="mt-2">
          <Table label={`Recent runs of ${s.name}`}>
            <THead columns={['Started', 'Took', 'Node', 'Examined', 'Acted', 'Errors', 'Mode']} />
            <TBody>
              {s.lastRuns.slice(0, 10).map((r) => (
                <tr key={r.id}>
                  <td className={`${td} whitespace-nowrap`}>
                    <RelTime iso={r.startedAt} />
                  </td>
                  <td className={`${td} tabular-nums`}>{r.finishedAt ? `${new Date(r.finishedAt).getTime() - new Date(r.startedAt).getTime()} ms` : 'running'}</td>
                  <td className={td}>
                    <NodeRef node={r.node} />
                  </td>
                  <td className={`${td} tabular-nums`}>{r.examined}</td>
                  <td className={`${td} tabular-nums`}>{r.acted}</td>
                  <td className={`${td} tabular-nums`}>
                    {r.errors ? <span className="font-medium text-red-700">{r.errors}</span> : 0}
                    {r.error ? <p className="max-w-md break-words text-xs text-red-700">{r.error}</p> : null}
                  </td>
                  <td className={td}>{r.dryRun ? <Badge tone="amber">dry-run</Badge> : 'live'}</td>
                </tr>
              ))}
            </TBody>
          </Table>
        </div>
      )}
    </Card>
  );
}

function DryRunToggle({ s }: { s: Sweeper }) {
  const [open, setOpen] = useState(false);
  const a = useServerAction(setDryRunAction);
  const forced = s.dryRunSource === 'env';
  return (
    <>
      <Button size="sm" onClick={() => setOpen(true)} disabled={forced} title={forced ? 'WARDEN_DRY_RUN=on forces dry-run for every sweeper' : undefined} aria-pressed={s.dryRun}>
        Dry-run {s.dryRun ? 'on' : 'off'}
      </Button>
      <ConfirmDialog
        open={open}
        onOpenChange={setOpen}
        title={s.dryRun ? `Turn dry-run off for ${s.name}?` : `Turn dry-run on for ${s.name}?`}
        description={s.dryRun ? 'The sweeper will act again: stop, remove and mark as it plans.' : 'The sweeper keeps planning and reporting, but changes nothing.'}
        error={a.error}
      >
        <Button variant="primary" busy={a.pending} onClick={() => void a.run({ name: s.name, dryRun: !s.dryRun }, { onOk: () => setOpen(false) })}>
          {s.dryRun ? 'Turn dry-run off' : 'Turn dry-run on'}
        </Button>
      </ConfirmDialog>
    </>
  );
}
