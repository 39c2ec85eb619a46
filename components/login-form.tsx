'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { loginAction } from '@/server/actions/auth';
import { safeNextPath } from '@/server/auth/next-path';
import { Button } from './ui/button';
import { TextField } from './ui/field';

export function LoginForm({ next, initialError }: { next: string; initialError?: string | null }) {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [error, setError] = useState<{ message: string; field?: string } | null>(initialError ? { message: initialError } : null);
  return (
    // method/action: before hydration the browser posts to /auth/login (never a GET with the
    // password in the URL); once hydrated, onSubmit calls the server action instead.
    <form
      method="post"
      action="/auth/login"
      className="mt-5 space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const fd = new FormData(e.currentTarget);
        setError(null);
        start(async () => {
          const r = await loginAction({ email: String(fd.get('email') ?? ''), password: String(fd.get('password') ?? '') }).catch(() => ({
            ok: false as const,
            error: { code: 'network', message: 'Could not reach the server. Try again.' },
          }));
          if (r.ok) {
            router.replace(safeNextPath(next));
            router.refresh();
          } else setError(r.error);
        });
      }}
    >
      <input type="hidden" name="next" value={next} />
      <TextField label="Email" name="email" type="email" autoComplete="username" required autoFocus error={error?.field === 'email' ? error.message : null} />
      <TextField label="Password" name="password" type="password" autoComplete="current-password" required error={error?.field === 'password' ? error.message : null} />
      {error && !error.field ? (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700 ring-1 ring-inset ring-red-200">
          {error.message}
        </p>
      ) : null}
      <Button type="submit" variant="primary" className="w-full" busy={pending}>
        Log in
      </Button>
    </form>
  );
}
