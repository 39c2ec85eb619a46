'use client';

import { createContext, useContext, useSyncExternalStore, type ReactNode } from 'react';

/**
 * One shared 1-second ticker for every countdown and relative time on the page. During
 * hydration it returns the server's render time, so server HTML and first client render agree.
 */
const ServerNow = createContext<number>(0);

let current = typeof window === 'undefined' ? 0 : Date.now();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(cb: () => void) {
  listeners.add(cb);
  if (!timer) {
    current = Date.now();
    timer = setInterval(() => {
      current = Date.now();
      for (const l of listeners) l();
    }, 1000);
  }
  return () => {
    listeners.delete(cb);
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

export function NowProvider({ serverNow, children }: { serverNow: number; children: ReactNode }) {
  return <ServerNow.Provider value={serverNow}>{children}</ServerNow.Provider>;
}

export function useNow(): number {
  const serverNow = useContext(ServerNow);
  return useSyncExternalStore(
    subscribe,
    () => current || serverNow,
    () => serverNow,
  );
}
