import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { LoginForm } from '@/components/login-form';
import { loginErrorMessage } from '@/server/auth/login-errors';
import { safeNextPath } from '@/server/auth/next-path';
import { getSessionActor } from '@/server/auth/session';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Log in' };

export default async function LoginPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  const next = safeNextPath(sp.next);
  if (await getSessionActor().catch(() => null)) redirect(next);
  return (
    <main className="flex min-h-screen items-center justify-center px-4">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center gap-2">
          <span aria-hidden className="grid size-8 place-items-center rounded-lg bg-indigo-600 text-sm font-bold text-white">W</span>
          <span className="text-lg font-semibold tracking-tight">Warden</span>
        </div>
        <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-zinc-200">
          <h1 className="text-base font-semibold text-zinc-900">Log in to the operator dashboard</h1>
          <p className="mt-1 text-sm text-zinc-600">Use the email and password an admin gave you.</p>
          <LoginForm next={next} initialError={loginErrorMessage(sp.error)} />
        </div>
      </div>
    </main>
  );
}
