'use client';

import Link from 'next/link';
import { NodeRef } from '../nodes/node-ref';
import type { ReactNode } from 'react';
import type { JobDetailData } from '@/server/dashboard/loaders';
import { isLive } from '@/server/domain/status';
import { actionInWords, actorInWords, waitInWords } from '@/server/domain/vocabulary';
import { Term } from '../ui/term';
import { formatLimit } from '../lib/format';
import { collapseTimeline } from '../lib/timeline';
import { useViewQuery } from '../lib/use-view-query';
import { Card, PageHeader } from '../ui/card';
import { EmptyState, ErrorState, LiveDot } from '../ui/states';
import { Badge, StatusChip } from '../ui/status';
import { AbsTime, Countdown, Elapsed, RelTime } from '../ui/time';
import { JobActions } from './job-actions';
import { LogViewer } from './log-viewer';
import { Labels } from './labels';

const SOURCE_TEXT: Record<string, string> = {
  job: "the job's own request",
  class: 'its class',
  user: "the user's override",
  plan: "the plan's default",
  global: 'the global default (300 s)',
  parent: "capped by the parent job's deadline",
};

function Row({ k, children }: { k: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-[10rem_1fr] gap-3 py-1.5 text-sm">
      <dt className="text-zinc-500">{k}</dt>
      <dd className="min-w-0 break-words text-zinc-900">{children}</dd>
    </div>
  );
}

function At({ iso }: { iso: string | null }) {
  if (!iso) return <span className="text-zinc-500">—</span>;
  return (
    <span>
      <RelTime iso={iso} /> <AbsTime iso={iso} className="text-xs text-zinc-500" />
    </span>
  );
}

export function JobDetail({ id, initial, initialError }: { id: string; initial: JobDetailData | null; initialError?: string | null }) {
  const q = useViewQuery(['job', id], `/api/ui/jobs/${id}`, initial, { refetchInterval: 2000 });
  const d = q.data;
  if (!d) return <ErrorState title="Could not load this job" message={initialError ?? (q.error as Error | null)?.message ?? 'Unknown error'} onRetry={() => void q.refetch()} />;
  const j = d.job;
  const live = isLive(j.status);
  return (
    <div>
      <nav aria-label="Breadcrumb" className="mb-2 text-sm text-zinc-500">
        <Link href="/jobs" className="hover:underline">
          Jobs
        </Link>{' '}
        / <span className="font-mono">{j.id.slice(0, 8)}</span>
      </nav>
      <PageHeader
        title={
          <span className="flex items-center gap-3">
            <span className="truncate">{j.name ?? `Job ${j.id.slice(0, 8)}`}</span>
            <StatusChip status={j.status} />
            {j.warnedAt && live ? <Badge tone="amber">warned</Badge> : null}
            {j.timeoutSuspended ? <Badge tone="indigo">timeout suspended</Badge> : null}
          </span>
        }
        description={<span className="font-mono text-xs">{j.id}</span>}
        actions={
          <>
            <LiveDot ok={!q.isError} />
            <JobActions job={j} size="md" showSuspend />
          </>
        }
      />
      {j.reason ? (
        <p className="mb-4 rounded-lg bg-white px-4 py-3 text-sm text-zinc-800 shadow-sm ring-1 ring-zinc-200">
          <span className="font-medium">Reason: </span>
          {j.reason}
        </p>
      ) : null}
      {(j.status === 'queued' || j.status === 'starting') && j.waitReason ? (
        <p className="mb-4 rounded-lg bg-amber-50 px-4 py-3 text-sm text-amber-900 ring-1 ring-amber-200" data-wait-code={j.waitCode ?? undefined}>
          <span className="font-medium">Why it waits: </span>
          {j.waitReason}
          {j.waitCode ? <Term code={j.waitCode} words={waitInWords(j.waitCode)} className="ml-2 rounded bg-amber-100 px-1.5 py-0.5 text-xs font-medium" /> : null}
          {j.queuePosition != null ? <span className="ml-2 text-amber-800">· #{j.queuePosition} in this user&apos;s queue (1 = next to start)</span> : null}
        </p>
      ) : null}
      <div className="grid gap-4 xl:grid-cols-3">
        <Card title="Deadline and limits">
          <dl className="divide-y divide-zinc-100">
            {j.status === 'running' || j.status === 'terminating' ? (
              <Row k="Time left">
                <Countdown deadline={j.deadlineAt} idleDeadline={j.status === 'running' ? j.idleDeadlineAt : null} suspended={j.timeoutSuspended} warnSeconds={d.limits?.warnBeforeSeconds ?? 60} />
              </Row>
            ) : null}
            <Row k="Deadline">{live ? <At iso={j.deadlineAt} /> : j.deadlineAt ? <AbsTime iso={j.deadlineAt} className="text-zinc-600" /> : '—'}</Row>
            <Row k="Timeout">
              <span data-testid="timeout">{formatLimit(j.timeoutSeconds)}</span>{' '}
              <span className="text-xs text-zinc-500">
                set by {SOURCE_TEXT[j.timeoutSource] ?? j.timeoutSource}
                {j.timeoutSource === 'class' && j.class ? ` (${j.class})` : ''}
              </span>
            </Row>
            <Row k="Class">{j.class ? <span data-testid="job-class" className="font-mono text-xs">{j.class}</span> : <span className="text-zinc-500">none</span>}</Row>
            <Row k="Idle timeout">
              {j.idleTimeoutSeconds != null ? (
                <span>
                  {formatLimit(j.idleTimeoutSeconds)}
                  {j.lastOutputAt ? <span className="text-xs text-zinc-500"> · last output seen <AbsTime iso={j.lastOutputAt} /></span> : null}
                </span>
              ) : (
                <span className="text-zinc-500">none</span>
              )}
            </Row>
            <Row k="Requested">{j.requestedTimeoutSeconds != null ? formatLimit(j.requestedTimeoutSeconds) : <span className="text-zinc-500">nothing requested</span>}</Row>
            <Row k="Extended by">{j.extendedSeconds ? formatLimit(j.extendedSeconds) : '—'}</Row>
            {d.limits ? (
              <>
                <Row k="Cap">
                  {formatLimit(d.limits.maxTimeoutSeconds)}{' '}
                  <span className="text-xs text-zinc-500">
                    from {d.limits.maxTimeoutFrom === 'user' ? 'the user override' : d.limits.maxTimeoutFrom === 'class' ? `class ${j.class}` : `plan ${d.plan?.name}`}
                  </span>
                </Row>
                <Row k="Warn before">{formatLimit(d.limits.warnBeforeSeconds)}</Row>
              </>
            ) : null}
            <Row k="Grace period">{formatLimit(j.gracePeriodSeconds)}</Row>
            <Row k="TTL after finish">{j.ttlSecondsAfterFinished != null ? `${formatLimit(j.ttlSecondsAfterFinished)} (job)` : 'plan default'}</Row>
            <Row k="Attempt">
              {j.attempt} of {j.maxRetries + 1}
            </Row>
          </dl>
        </Card>
        <Card title="Run">
          <dl className="divide-y divide-zinc-100">
            <Row k="User">
              {d.user ? (
                <Link className="text-indigo-700 hover:underline" href={`/users?q=${encodeURIComponent(d.user.name)}`}>
                  {d.user.name}
                </Link>
              ) : (
                j.userId
              )}{' '}
              {d.plan ? <span className="text-xs text-zinc-500">plan {d.plan.name}</span> : null}
            </Row>
            <Row k="Image">
              <span className="font-mono text-xs">{j.image}</span>
            </Row>
            <Row k="Command">{j.command?.length ? <code className="font-mono text-xs">{j.command.join(' ')}</code> : <span className="text-zinc-500">image default</span>}</Row>
            <Row k="Queued">
              <At iso={j.queuedAt} />
            </Row>
            <Row k="Started">
              <At iso={j.startedAt} />
            </Row>
            <Row k="Finished">
              <At iso={j.finishedAt} />
            </Row>
            <Row k="Ran">{j.startedAt ? <Elapsed since={j.startedAt} until={j.finishedAt} /> : '—'}</Row>
            <Row k="Exit code">{j.exitCode ?? '—'}</Row>
          </dl>
        </Card>
        <Card title="Container">
          <dl className="divide-y divide-zinc-100">
            <Row k="Container">{j.containerId ? <span className="font-mono text-xs">{j.containerId.slice(0, 12)}</span> : '—'}</Row>
            <Row k="Node">
              <NodeRef node={d.node} />
            </Row>
            <Row k="Terminate asked">
              <At iso={j.terminateRequestedAt} />
            </Row>
            <Row k="SIGTERM / SIGKILL">
              <AbsTime iso={j.sigtermAt} /> / <AbsTime iso={j.sigkillAt} />
            </Row>
            <Row k="Cleaned">
              <At iso={j.cleanedAt} />
            </Row>
            <Row k="Parent">
              {j.parentId ? (
                <Link className="font-mono text-xs text-indigo-700 hover:underline" href={`/jobs/${j.parentId}`}>
                  {j.parentId.slice(0, 8)}
                </Link>
              ) : (
                '—'
              )}
            </Row>
            {d.children.length ? (
              <Row k="Children">
                <span className="flex flex-wrap gap-1.5">
                  {d.children.map((c) => (
                    <Link key={c.id} href={`/jobs/${c.id}`} className="inline-flex items-center gap-1 text-xs text-indigo-700 hover:underline">
                      {c.name ?? c.id.slice(0, 8)} <StatusChip status={c.status} />
                    </Link>
                  ))}
                </span>
              </Row>
            ) : null}
            <Row k="Results">
              <Results job={j} />
            </Row>
            <Row k="Labels">{Object.keys(j.labels ?? {}).length ? <Labels labels={j.labels} /> : '—'}</Row>
            <Row k="Env">{j.env.length ? <span className="font-mono text-xs">{j.env.join(', ')}</span> : '—'}</Row>
          </dl>
        </Card>
      </div>
      <div className="mt-4 grid gap-4 xl:grid-cols-2">
        <Card title="Timeline" bodyClassName="p-0">
          {d.timeline.length === 0 ? (
            <EmptyState inset title="No audit events for this job" />
          ) : (
            <ol className="divide-y divide-zinc-100" aria-label="Timeline">
              {collapseTimeline(d.timeline).flatMap((g) => g.events.map((e, k) => (
                <li key={e.id} className="flex gap-3 px-4 py-2.5 text-sm">
                  <span aria-hidden className={`mt-1.5 size-2 shrink-0 rounded-full ${e.success ? 'bg-indigo-500' : 'bg-red-500'}`} />
                  <div className="min-w-0 flex-1">
                    <div className="flex flex-wrap items-baseline gap-x-2">
                      <Term code={e.action} words={actionInWords(e.action)} className="font-medium text-zinc-900" />
                      {g.count > 1 && k === 0 ? (
                        <span className="rounded bg-zinc-100 px-1.5 text-xs text-zinc-700" title={g.events.length > 1 ? `these ${g.events.length} events, ${g.count} times in a row` : `${g.count} times in a row`}>
                          ×{g.count}
                        </span>
                      ) : null}
                      <Term code={e.actor} words={actorInWords(e.actor)} className="text-xs text-zinc-500" />
                      <RelTime iso={e.at} className="ml-auto text-xs text-zinc-500" />
                    </div>
                    {e.reason ? <p className="mt-0.5 break-words text-zinc-700">{e.reason}</p> : null}
                    {e.error ? <p className="mt-0.5 break-words text-red-700">{e.error}</p> : null}
                  </div>
                </li>
              )))}
            </ol>
          )}
        </Card>
        <LogViewer id={j.id} live={live} />
      </div>
    </div>
  );
}

/** What the job left under its resultsPath: a download link while kept, else why there is none. */
function Results({ job }: { job: JobDetailData['job'] }) {
  if (!job.resultsPath) return <span className="text-zinc-500">no results path</span>;
  if (job.resultsBytes != null) {
    return (
      <span className="flex flex-wrap items-baseline gap-x-2">
        <a href={`/api/ui/jobs/${job.id}/results`} download className="font-medium text-indigo-700 hover:underline" data-testid="results-link">
          Download {job.resultsPath} (tar, {formatBytes(job.resultsBytes)})
        </a>
        {job.resultsTruncated ? <Badge tone="amber">truncated</Badge> : null}
        {job.resultsNote ? <span className="text-xs text-zinc-500">{job.resultsNote}</span> : null}
      </span>
    );
  }
  return (
    <span>
      <span className="font-mono text-xs">{job.resultsPath}</span>{' '}
      <span className="text-xs text-zinc-500">{job.resultsNote ?? (isLive(job.status) ? 'copied out when the job ends' : 'nothing saved')}</span>
    </span>
  );
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
