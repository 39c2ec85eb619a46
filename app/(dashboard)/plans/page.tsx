import type { Metadata } from 'next';
import { PlansView } from '@/components/plans/plans-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadPlans } from '@/server/dashboard/loaders';
import { errorMessage } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Plans' };

export default async function PlansPage() {
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadPlans(await getAppContext(), actor);
  } catch (e) {
    error = errorMessage(e);
  }
  return <PlansView initial={initial} initialError={error} />;
}
