import type { Metadata } from 'next';
import { OrphansView } from '@/components/orphans/orphans-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadOrphans } from '@/server/dashboard/loaders';
import { errorMessage } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Orphans' };

export default async function OrphansPage() {
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadOrphans(await getAppContext(), actor);
  } catch (e) {
    error = errorMessage(e);
  }
  return <OrphansView initial={initial} initialError={error} />;
}
