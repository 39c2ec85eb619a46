'use client';

import { Bar, BarChart, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Activity, Percentiles } from '@/server/dashboard/concurrency';
import { Card } from '../ui/card';
import { RelTime } from '../ui/time';

const hour = (iso: string) => `${new Date(iso).toISOString().slice(11, 16)}`;
// Palette variables, so dark mode's swapped shades (app/globals.css) reach the SVG too.
const GRID = 'var(--color-zinc-200, #e4e4e7)';
const TICK = { fontSize: 11, fill: 'var(--color-zinc-500, #71717a)' };
/** Legend labels in the text colour (the swatch keeps the series colour): light fills stay readable. */
const legendText = (v: unknown) => <span style={{ color: 'var(--color-zinc-600, #52525b)' }}>{String(v)}</span>;
const TOOLTIP = { contentStyle: { background: 'var(--color-white, #fff)', borderColor: 'var(--color-zinc-200, #e4e4e7)', color: 'var(--color-zinc-900, #18181b)', fontSize: 12 } };

/** The outcomes a finished run is counted by, in the dashboard's words and status colours. */
const OUTCOMES = [
  { key: 'succeeded', name: 'Succeeded', fill: 'var(--color-emerald-500, #10b981)' },
  { key: 'failed', name: 'Failed', fill: 'var(--color-rose-500, #f43f5e)' },
  { key: 'timed_out', name: 'Timed out', fill: 'var(--color-orange-500, #f97316)' },
  { key: 'killed', name: 'Killed', fill: 'var(--color-red-700, #b91c1c)' },
  { key: 'lost', name: 'Lost', fill: 'var(--color-fuchsia-500, #d946ef)' },
] as const;

/** 850 ms, 12.3 s, 4m 05s: a latency as an operator reads it. */
export function formatMs(ms: number | null): string {
  if (ms == null) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

function Stat({ label, hint, p }: { label: string; hint: string; p: Percentiles }) {
  return (
    <div className="min-w-0 rounded-lg bg-zinc-50 px-3 py-2 ring-1 ring-zinc-200" role="group" aria-label={label}>
      <p className="truncate text-xs font-medium text-zinc-600" title={hint}>
        {label}
      </p>
      <p className="mt-0.5 text-sm tabular-nums text-zinc-900">
        <span className="text-xs text-zinc-500">p50</span> <span className="font-semibold">{formatMs(p.p50Ms)}</span>
        <span className="ml-2 text-xs text-zinc-500">p95</span> <span className="font-semibold">{formatMs(p.p95Ms)}</span>
      </p>
      <p className="text-xs text-zinc-500">{p.n === 1 ? '1 job' : `${p.n} jobs`}</p>
    </div>
  );
}

/**
 * The last 24 h by hour (UTC, hours ending now), all computed in PostgreSQL
 * (server/dashboard/concurrency.ts): the most jobs running at once and the jobs started in each
 * hour; jobs finished per hour by outcome; p50/p95 of time-to-start and of kill lateness.
 */
export function Charts({ activity }: { activity: Activity }) {
  const data = activity.buckets.map((b) => ({ ...b, t: b.to }));
  const peak = Math.max(0, ...data.map((b) => b.peak));
  const started = data.reduce((s, b) => s + b.started, 0);
  const finished = Object.fromEntries(OUTCOMES.map((o) => [o.key, data.reduce((s, b) => s + b[o.key], 0)])) as Record<(typeof OUTCOMES)[number]['key'], number>;
  const finishedText = OUTCOMES.map((o) => `${finished[o.key]} ${o.name.toLowerCase()}`).join(', ');
  return (
    <div className="space-y-3">
      <div className="grid gap-4 xl:grid-cols-2">
        <Card title="Jobs running at once, last 24 h (UTC)" actions={<span className="text-xs text-zinc-500">updated <RelTime iso={activity.computedAt} /></span>}>
          <figure aria-label={`Most jobs running at once per hour: peak ${peak} in 24 h; ${started} jobs started`} className="h-52" data-testid="chart-concurrency">
            <ResponsiveContainer width="100%" height="100%">
              <ComposedChart data={data} margin={{ top: 4, right: 8, bottom: 0, left: -16 }}>
                <CartesianGrid stroke={GRID} vertical={false} />
                <XAxis dataKey="t" tickFormatter={hour} tick={TICK} interval={3} tickLine={false} axisLine={false} />
                <YAxis allowDecimals={false} tick={TICK} tickLine={false} axisLine={false} />
                <Tooltip {...TOOLTIP} labelFormatter={(l) => `hour ending ${hour(String(l))} UTC`} />
                <Legend iconSize={8} wrapperStyle={{ fontSize: 11 }} formatter={legendText} />
                <Bar dataKey="started" name="Started" fill="var(--color-sky-300, #7dd3fc)" isAnimationActive={false} />
                <Line type="stepAfter" dataKey="peak" name="Peak running at once" stroke="var(--color-indigo-600, #4f46e5)" strokeWidth={2} dot={false} isAnimationActive={false} />
              </ComposedChart>
            </ResponsiveContainer>
          </figure>
        </Card>
        <Card title="Finished per hour by outcome, last 24 h (UTC)">
          <figure aria-label={`Jobs finished per hour by outcome: ${finishedText} in 24 h`} className="h-52" data-testid="chart-outcomes">
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={data} margin={{ top: 4, right: 8, bottom: 0, left: -16 }}>
                <CartesianGrid stroke={GRID} vertical={false} />
                <XAxis dataKey="t" tickFormatter={hour} tick={TICK} interval={3} tickLine={false} axisLine={false} />
                <YAxis allowDecimals={false} tick={TICK} tickLine={false} axisLine={false} />
                <Tooltip {...TOOLTIP} labelFormatter={(l) => `hour ending ${hour(String(l))} UTC`} />
                <Legend iconSize={8} wrapperStyle={{ fontSize: 11 }} formatter={legendText} />
                {OUTCOMES.map((o) => (
                  <Bar key={o.key} dataKey={o.key} name={o.name} stackId="a" fill={o.fill} isAnimationActive={false} />
                ))}
              </BarChart>
            </ResponsiveContainer>
          </figure>
        </Card>
      </div>
      <section aria-label="Latencies over the last 24 h" className="grid gap-3 sm:grid-cols-3">
        <Stat label="Time to start" hint="Queued → container started, jobs that started in the last 24 h" p={activity.timeToStart} />
        <Stat label="Timeout lateness" hint="Deadline → SIGTERM sent (SIGKILL when forced), timeouts of the last 24 h" p={activity.timeoutLateness} />
        <Stat label="Kill lateness" hint="Kill requested → SIGTERM sent (SIGKILL when forced), kills of the last 24 h" p={activity.killLateness} />
      </section>
    </div>
  );
}
