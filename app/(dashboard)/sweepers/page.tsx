import type { Metadata } from 'next';
import { SweepersView } from '@/components/sweepers/sweepers-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadSweepers } from '@/server/dashboard/loaders';
import { errorMessage } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Sweepers' };

export default async function SweepersPage() {
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadSweepers(await getAppContext(), actor);
  } catch (e) {
    error = errorMessage(e);
  }
  return <SweepersView initial={initial} initialError={error} />;
}
