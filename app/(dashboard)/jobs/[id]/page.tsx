import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { JobDetail } from '@/components/jobs/job-detail';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadJobDetail } from '@/server/dashboard/loaders';
import { AppError } from '@/server/domain/errors';
import { errorMessage } from '../../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Job' };

export default async function JobPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadJobDetail(await getAppContext(), actor, id);
  } catch (e) {
    if (e instanceof AppError && e.status === 404) notFound();
    error = errorMessage(e);
  }
  return <JobDetail id={id} initial={initial} initialError={error} />;
}
