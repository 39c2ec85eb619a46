'use client';

import * as D from '@radix-ui/react-dialog';
import type { ReactNode } from 'react';
import { Button } from './button';

/**
 * Radix Dialog with the app's look: focus is trapped inside, Escape closes, focus returns to the
 * trigger. `title` is the accessible name; confirm buttons say what they do ("Kill job").
 * The backdrop is a fixed near-black (not a palette shade, which dark mode mirrors to near-white),
 * so it dims the page in both schemes.
 */
export function Modal({
  open,
  onOpenChange,
  title,
  description,
  children,
  wide,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  title: string;
  description?: ReactNode;
  children: ReactNode;
  wide?: boolean;
}) {
  return (
    <D.Root open={open} onOpenChange={onOpenChange}>
      <D.Portal>
        <D.Overlay data-testid="dialog-scrim" data-overlay className="fixed inset-0 z-40 bg-scrim/40 backdrop-blur-[1px]" />
        <D.Content
          className={`fixed left-1/2 top-1/2 z-50 max-h-[90vh] w-[calc(100vw-2rem)] -translate-x-1/2 -translate-y-1/2 overflow-y-auto rounded-xl bg-white p-5 shadow-xl ring-1 ring-zinc-200 focus:outline-none ${wide ? 'max-w-2xl' : 'max-w-md'}`}
        >
          <D.Title className="text-base font-semibold text-zinc-900">{title}</D.Title>
          {description ? (
            <D.Description className="mt-1 text-sm text-zinc-600">{description}</D.Description>
          ) : (
            <D.Description className="sr-only">{title}</D.Description>
          )}
          <div className="mt-4">{children}</div>
        </D.Content>
      </D.Portal>
    </D.Root>
  );
}

/**
 * A side drawer: the same Radix dialog (focus trapped, Escape closes, focus returns), docked to
 * the right edge and as tall as the screen; full width on a phone.
 */
export function Drawer({ open, onOpenChange, title, description, children }: { open: boolean; onOpenChange: (o: boolean) => void; title: string; description?: ReactNode; children: ReactNode }) {
  return (
    <D.Root open={open} onOpenChange={onOpenChange}>
      <D.Portal>
        <D.Overlay data-testid="dialog-scrim" data-overlay className="fixed inset-0 z-40 bg-scrim/40 backdrop-blur-[1px]" />
        <D.Content className="fixed inset-y-0 right-0 z-50 flex w-full max-w-4xl flex-col overflow-y-auto bg-zinc-50 shadow-xl ring-1 ring-zinc-200 focus:outline-none">
          <div className="sticky top-0 z-10 flex items-start justify-between gap-3 border-b border-zinc-200 bg-white px-5 py-3">
            <div className="min-w-0">
              <D.Title className="text-base font-semibold text-zinc-900">{title}</D.Title>
              {description ? <D.Description className="mt-0.5 text-sm text-zinc-600">{description}</D.Description> : <D.Description className="sr-only">{title}</D.Description>}
            </div>
            <D.Close asChild>
              <Button size="sm" variant="ghost">
                Close
              </Button>
            </D.Close>
          </div>
          <div className="p-4 sm:p-5">{children}</div>
        </D.Content>
      </D.Portal>
    </D.Root>
  );
}

export const DialogClose = D.Close;

/** A dialog's last row: the button that closes it (`cancel`, "Close" unless said), then the confirm button. */
export function DialogFooter({ cancel = 'Close', children }: { cancel?: string; children: ReactNode }) {
  return (
    <div className="flex justify-end gap-2">
      <DialogClose asChild>
        <Button>{cancel}</Button>
      </DialogClose>
      {children}
    </div>
  );
}

/** What a dialog shows once its action is done (a secret shown once, say), closed with "Done". */
export function DialogResult({ children }: { children: ReactNode }) {
  return (
    <div className="space-y-3">
      {children}
      <div className="flex justify-end">
        <DialogClose asChild>
          <Button variant="primary">Done</Button>
        </DialogClose>
      </div>
    </div>
  );
}

/** A yes/no dialog for one action: the action's error, if its last attempt failed, above DialogFooter (children = the confirm button). */
export function ConfirmDialog({
  error,
  cancel,
  children,
  ...modal
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  title: string;
  description?: ReactNode;
  error: { message: string } | null;
  cancel?: string;
  children: ReactNode;
}) {
  return (
    <Modal {...modal}>
      {error ? <p role="alert" className="mb-3 text-sm text-red-600">{error.message}</p> : null}
      <DialogFooter cancel={cancel}>{children}</DialogFooter>
    </Modal>
  );
}
