'use client';

import { useQuery } from '@tanstack/react-query';
import { getJson } from './lib/fetch-json';

interface Health {
  status: 'ok' | 'degraded' | 'down';
  docker: { ok: boolean; error: string | null };
  db: { ok: boolean };
}

/** The one thing an operator must know first: is the engine there? (from /api/health's report) */
export function HealthBanner() {
  const q = useQuery({ queryKey: ['health'], queryFn: ({ signal }) => getJson<Health>('/api/ui/health', signal), refetchInterval: 10_000 });
  if (!q.data) return null;
  if (!q.data.db.ok)
    return (
      <div role="alert" className="border-b border-red-300 bg-red-600 px-4 py-2 text-center text-sm font-medium text-white">
        Database unreachable — the dashboard shows stale data
      </div>
    );
  if (!q.data.docker.ok)
    return (
      <div role="alert" className="border-b border-amber-300 bg-amber-100 px-4 py-2 text-center text-sm text-amber-900">
        <strong className="font-semibold">Docker engine unreachable — jobs stay queued</strong>
        {q.data.docker.error ? <span className="ml-2 text-amber-800">({q.data.docker.error})</span> : null}
      </div>
    );
  return null;
}
