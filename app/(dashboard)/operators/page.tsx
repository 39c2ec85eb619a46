import type { Metadata } from 'next';
import { OperatorsView } from '@/components/operators/operators-view';
import { Forbidden } from '@/components/ui/card';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadOperators } from '@/server/dashboard/loaders';
import { hasRole } from '@/server/domain/actor';
import { errorMessage } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Operators' };

export default async function OperatorsPage() {
  const actor = await requireSession();
  if (!hasRole(actor, 'admin')) return <Forbidden role="admin" what="Managing operators" />;
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadOperators(await getAppContext(), actor);
  } catch (e) {
    error = errorMessage(e);
  }
  return <OperatorsView initial={initial} initialError={error} />;
}
