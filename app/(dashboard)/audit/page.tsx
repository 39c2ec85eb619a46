import type { Metadata } from 'next';
import { AuditView } from '@/components/audit/audit-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadAudit } from '@/server/dashboard/loaders';
import { errorMessage, flatParams } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Audit' };

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const actor = await requireSession();
  const sp = flatParams(await searchParams);
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadAudit(await getAppContext(), actor, sp);
  } catch (e) {
    error = errorMessage(e);
  }
  return <AuditView initial={initial} initialError={error} />;
}
