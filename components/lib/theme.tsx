'use client';

import { useSyncExternalStore } from 'react';
import { THEME_KEY } from './theme-script';

type Theme = 'light' | 'dark';

function subscribe(fn: () => void): () => void {
  const obs = new MutationObserver(fn);
  obs.observe(document.documentElement, { attributes: true, attributeFilter: ['class'] });
  return () => obs.disconnect();
}
const current = (): Theme => (document.documentElement.classList.contains('dark') ? 'dark' : 'light');

export function useTheme(): [Theme | null, (t: Theme) => void] {
  const theme = useSyncExternalStore(subscribe, current, () => null);
  const set = (t: Theme) => {
    try {
      localStorage.setItem(THEME_KEY, t);
    } catch {
      /* storage refused: the choice lasts for this page only */
    }
    document.documentElement.classList.toggle('dark', t === 'dark');
  };
  return [theme, set];
}

/** A switch in the header: on = dark. Remembered across reloads. */
export function ThemeToggle() {
  const [theme, set] = useTheme();
  const dark = theme === 'dark';
  return (
    <button
      type="button"
      role="switch"
      aria-checked={dark}
      aria-label="Dark mode"
      title={dark ? 'Switch to light mode' : 'Switch to dark mode'}
      onClick={() => set(dark ? 'light' : 'dark')}
      className="grid size-8 place-items-center rounded-md text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 focus-visible:outline-2 focus-visible:outline-indigo-600"
    >
      <span aria-hidden className="text-base leading-none">
        {dark ? '☾' : '☀'}
      </span>
    </button>
  );
}
