'use client';

import { useQueryClient } from '@tanstack/react-query';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';

type Result<T> = { ok: true; message: string; data?: T } | { ok: false; error: { code: string; message: string; field?: string } };

/**
 * Calls a server action, shows the server's message as a toast, and refreshes every live query
 * at once on success (no waiting for the next poll). A form that shows `error` itself passes
 * `errorToast: false`: one error on screen, not the same one inline and in a toast.
 */
export function useServerAction<I, T>(fn: (input: I) => Promise<Result<T>>, o: { errorToast?: boolean } = {}) {
  const qc = useQueryClient();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<{ code: string; message: string; field?: string } | null>(null);

  function run(input: I, opts: { onOk?: (data: T | undefined, message: string) => void; toastOk?: boolean } = {}): Promise<Result<T>> {
    setError(null);
    return new Promise((resolve) => {
      startTransition(async () => {
        let r: Result<T>;
        try {
          r = await fn(input);
        } catch {
          r = { ok: false, error: { code: 'network', message: 'Could not reach the server. Check your connection and try again.' } };
        }
        if (r.ok) {
          if (opts.toastOk !== false) toast.success(r.message);
          await qc.invalidateQueries();
          opts.onOk?.(r.data, r.message);
        } else {
          setError(r.error);
          if (o.errorToast !== false) toast.error(r.error.message);
          // A lost session is a full navigation on purpose: it drops every cached query of the old session.
          // eslint-disable-next-line @next/next/no-location-assign-relative-destination
          if (r.error.code === 'unauthorized') window.location.assign('/login');
        }
        resolve(r);
      });
    });
  }
  return { run, pending, error, setError };
}
