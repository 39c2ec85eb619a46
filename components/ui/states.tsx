import type { ReactNode } from 'react';

/** `inset`: padded, for a card whose body has no padding of its own. */
export function EmptyState({ title, children, inset = false }: { title: string; children?: ReactNode; inset?: boolean }) {
  const box = (
    <div className="rounded-lg border border-dashed border-zinc-300 px-6 py-10 text-center">
      <p className="text-sm font-medium text-zinc-800">{title}</p>
      {children ? <div className="mt-1 text-sm text-zinc-500">{children}</div> : null}
    </div>
  );
  return inset ? <div className="p-4">{box}</div> : box;
}

export function ErrorState({ title = 'Could not load this view', message, onRetry }: { title?: string; message: string; onRetry?: () => void }) {
  return (
    <div role="alert" className="rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800">
      <p className="font-medium">{title}</p>
      <p className="mt-0.5 text-red-700">{message}</p>
      {onRetry ? (
        <button type="button" onClick={onRetry} className="mt-2 rounded text-sm font-medium text-red-800 underline focus-visible:outline-2 focus-visible:outline-red-600">
          Try again
        </button>
      ) : null}
    </div>
  );
}

/**
 * What a view shows until its first data arrives: the error (from the server render, or the last
 * fetch) with a retry button, else the spinner.
 */
export function QueryFallback({ query, initialError, title }: { query: { isError: boolean; error: Error | null; refetch: () => unknown }; initialError?: string | null; title?: string }) {
  return initialError || query.isError ? <ErrorState title={title} message={initialError ?? (query.error as Error).message} onRetry={() => void query.refetch()} /> : <Loading />;
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div role="status" className="flex items-center gap-2 px-2 py-8 text-sm text-zinc-500">
      <span aria-hidden className="size-4 animate-spin rounded-full border-2 border-zinc-300 border-r-transparent" />
      {label}
    </div>
  );
}

export { LiveDot } from './live-dot';
