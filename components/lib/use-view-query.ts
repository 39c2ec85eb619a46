'use client';

import { keepPreviousData, useQuery, type QueryKey } from '@tanstack/react-query';
import { getJson } from './fetch-json';
import { PUSHED_ROOTS, useLiveMode } from './live';

/**
 * A dashboard view's live data: GET `url` again whenever the live stream says its key changed
 * (components/lib/live.tsx); every `refetchInterval` while the stream is down (the fallback), or
 * always for a view the stream does not cover (PUSHED_ROOTS).
 * Starts from what the server rendered (dated by its generatedAt, so it is not fetched again at
 * once). With `keepPrevious` the last data stays on screen while another filter or page loads.
 */
export function useViewQuery<T extends { generatedAt: string }>(
  queryKey: QueryKey,
  url: string,
  initial: T | null,
  { refetchInterval, keepPrevious = false }: { refetchInterval: number | false; keepPrevious?: boolean },
) {
  // Only roots the stream pushes stop polling: webhook deliveries, plans, classes and operators
  // change without a live topic, so their views keep their interval.
  const live = useLiveMode() === 'live' && PUSHED_ROOTS.has(String(queryKey[0]));
  return useQuery({
    queryKey,
    queryFn: ({ signal }) => getJson<T>(url, signal),
    initialData: initial ?? undefined,
    initialDataUpdatedAt: initial ? Date.parse(initial.generatedAt) : undefined,
    placeholderData: keepPrevious ? keepPreviousData : undefined,
    refetchInterval: live ? false : refetchInterval,
  });
}
