'use client';

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState, type CSSProperties, type ReactNode } from 'react';
import { Toaster } from 'sonner';

/**
 * Toasts in the app's palette: sonner's own success green reads at 4.3:1 on its background, and
 * its light theme stays light in dark mode. Palette shades follow the scheme (app/globals.css).
 */
const TOAST_COLOURS = {
  '--normal-bg': 'var(--color-white)',
  '--normal-border': 'var(--color-zinc-200)',
  '--normal-text': 'var(--color-zinc-900)',
  '--success-bg': 'var(--color-emerald-50)',
  '--success-border': 'var(--color-emerald-200)',
  '--success-text': 'var(--color-emerald-800)',
  '--info-bg': 'var(--color-sky-50)',
  '--info-border': 'var(--color-sky-200)',
  '--info-text': 'var(--color-sky-800)',
  '--warning-bg': 'var(--color-amber-50)',
  '--warning-border': 'var(--color-amber-200)',
  '--warning-text': 'var(--color-amber-800)',
  '--error-bg': 'var(--color-red-50)',
  '--error-border': 'var(--color-red-200)',
  '--error-text': 'var(--color-red-800)',
} as CSSProperties;

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            staleTime: 1500,
            retry: (n, e) => n < 2 && ![401, 403, 404, 503].includes((e as unknown as { status?: number }).status ?? 0),
            refetchOnWindowFocus: true,
          },
        },
      }),
  );
  return (
    <QueryClientProvider client={client}>
      {children}
      <Toaster position="bottom-right" richColors closeButton toastOptions={{ duration: 5000 }} style={TOAST_COLOURS} />
    </QueryClientProvider>
  );
}
