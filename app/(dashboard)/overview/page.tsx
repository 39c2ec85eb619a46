import type { Metadata } from 'next';
import { OverviewView } from '@/components/overview/overview-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadOverview } from '@/server/dashboard/loaders';
import { errorMessage } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Overview' };

export default async function OverviewPage() {
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadOverview(await getAppContext(), actor);
  } catch (e) {
    error = errorMessage(e);
  }
  return <OverviewView initial={initial} initialError={error} />;
}
