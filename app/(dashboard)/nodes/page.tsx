import type { Metadata } from 'next';
import { NodesView } from '@/components/nodes/nodes-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadNodes } from '@/server/dashboard/nodes';
import { errorMessage } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Nodes' };

export default async function NodesPage() {
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadNodes(await getAppContext(), actor);
  } catch (e) {
    error = errorMessage(e);
  }
  return <NodesView initial={initial} initialError={error} />;
}
