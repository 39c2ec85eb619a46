import type { Metadata } from 'next';
import { UsersView } from '@/components/users/users-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadUsers } from '@/server/dashboard/loaders';
import { errorMessage, flatParams } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Users' };

export default async function UsersPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const actor = await requireSession();
  const sp = flatParams(await searchParams);
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadUsers(await getAppContext(), actor, sp);
  } catch (e) {
    error = errorMessage(e);
  }
  return <UsersView initial={initial} initialError={error} />;
}
