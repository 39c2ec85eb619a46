import type { Metadata } from 'next';
import { ClassesView } from '@/components/classes/classes-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadClasses } from '@/server/dashboard/classes';
import { errorMessage } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Classes' };

export default async function ClassesPage() {
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadClasses(await getAppContext(), actor);
  } catch (e) {
    error = errorMessage(e);
  }
  return <ClassesView initial={initial} initialError={error} />;
}
