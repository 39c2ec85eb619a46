'use client';

import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { SeriesPoint } from '@/server/dashboard/overview';
import { Card } from '../ui/card';
import { RelTime } from '../ui/time';

const hour = (iso: string) => `${new Date(iso).toISOString().slice(11, 16)}`;

/** Last 24 h by hour (UTC, hours ending now): running jobs at the end of each hour, and timeouts/kills per hour. */
export function Charts({ series, computedAt }: { series: SeriesPoint[]; computedAt: string }) {
  const totals = series.reduce((a, p) => ({ t: a.t + p.timedOut, k: a.k + p.killed }), { t: 0, k: 0 });
  return (
    <div className="grid gap-4 xl:grid-cols-2">
      <Card title="Running jobs, last 24 h (UTC)" actions={<span className="text-xs text-zinc-500">updated <RelTime iso={computedAt} /></span>}>
        <figure aria-label={`Running jobs per hour; now ${series.at(-1)?.running ?? 0}`} className="h-52">
          <ResponsiveContainer width="100%" height="100%">
            <AreaChart data={series} margin={{ top: 4, right: 8, bottom: 0, left: -16 }}>
              <CartesianGrid stroke="#f4f4f5" vertical={false} />
              <XAxis dataKey="t" tickFormatter={hour} tick={{ fontSize: 11, fill: '#71717a' }} interval={3} tickLine={false} axisLine={false} />
              <YAxis allowDecimals={false} tick={{ fontSize: 11, fill: '#71717a' }} tickLine={false} axisLine={false} />
              <Tooltip labelFormatter={(l) => `${hour(String(l))} UTC`} />
              <Area type="linear" dataKey="running" name="Running" stroke="#4f46e5" fill="#e0e7ff" strokeWidth={2} isAnimationActive={false} />
            </AreaChart>
          </ResponsiveContainer>
        </figure>
      </Card>
      <Card title={`Timeouts and kills, last 24 h (${totals.t} timed out, ${totals.k} killed)`}>
        <figure aria-label={`Timeouts and kills per hour: ${totals.t} timeouts and ${totals.k} kills in 24 h`} className="h-52">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={series} margin={{ top: 4, right: 8, bottom: 0, left: -16 }}>
              <CartesianGrid stroke="#f4f4f5" vertical={false} />
              <XAxis dataKey="t" tickFormatter={hour} tick={{ fontSize: 11, fill: '#71717a' }} interval={3} tickLine={false} axisLine={false} />
              <YAxis allowDecimals={false} tick={{ fontSize: 11, fill: '#71717a' }} tickLine={false} axisLine={false} />
              <Tooltip labelFormatter={(l) => `${hour(String(l))} UTC`} />
              <Legend iconSize={8} wrapperStyle={{ fontSize: 11 }} />
              <Bar dataKey="timedOut" name="Timed out" stackId="a" fill="#f97316" isAnimationActive={false} />
              <Bar dataKey="killed" name="Killed" stackId="a" fill="#dc2626" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
      </Card>
    </div>
  );
}
