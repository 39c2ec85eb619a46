'use client';

import { useEffect, useState } from 'react';
import { Modal, DialogFooter } from './ui/dialog';

/** The keys the dashboard answers anywhere outside a text field (listed by `?`). */
export const SHORTCUTS = [
  { keys: '/', what: 'Focus the search field of this page' },
  { keys: '?', what: 'Show this list of shortcuts' },
  { keys: 'Esc', what: 'Close a dialog or this list' },
] as const;

/** True while the user types into a field, where `/` and `?` are just characters. */
function typing(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false;
  return t.isContentEditable || t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT';
}

/** The page's search field: the first text field of a search form, else a search input, in the main area. */
function searchField(): HTMLInputElement | null {
  return document.querySelector<HTMLInputElement>('main [role="search"] input:not([type="checkbox"]):not([type="hidden"]), main input[type="search"]');
}

/** `/` focuses the page's search, `?` opens the list of shortcuts; Escape closes dialogs (Radix). */
export function KeyboardShortcuts() {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      // Another dialog is open: its keys are its own.
      if (document.querySelector('[role="dialog"]')) return;
      if (e.key === '/') {
        const f = searchField();
        if (f) {
          e.preventDefault();
          f.focus();
          f.select();
        }
      } else if (e.key === '?') {
        e.preventDefault();
        setOpen(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <Modal open={open} onOpenChange={setOpen} title="Keyboard shortcuts">
      <dl className="mb-4 divide-y divide-zinc-100 text-sm">
        {SHORTCUTS.map((s) => (
          <div key={s.keys} className="flex items-center gap-3 py-2">
            <dt>
              <kbd className="inline-block min-w-8 rounded border border-zinc-300 bg-zinc-50 px-1.5 py-0.5 text-center font-mono text-xs text-zinc-800">{s.keys}</kbd>
            </dt>
            <dd className="text-zinc-700">{s.what}</dd>
          </div>
        ))}
      </dl>
      <DialogFooter>{null}</DialogFooter>
    </Modal>
  );
}
