import type { Metadata } from 'next';
import { notFound, redirect } from 'next/navigation';
import { JobDetail } from '@/components/jobs/job-detail';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadJobDetail } from '@/server/dashboard/loaders';
import { AppError } from '@/server/domain/errors';
import { resolveJobId } from '@/server/domain/job-ids';
import { errorMessage } from '../../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Job' };

export default async function JobPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const actor = await requireSession();
  let initial = null;
  let error: string | null = null;
  const ctx = await getAppContext();
  // A short id (a unique prefix, as the dashboard shows them) redirects to the job's full URL.
  let full: string | null = null;
  try {
    full = await resolveJobId(ctx.db, actor, decodeURIComponent(id));
  } catch (e) {
    if (e instanceof AppError && e.status === 404) notFound();
    error = errorMessage(e);
  }
  if (full && full !== id) redirect(`/jobs/${full}`);
  if (full) {
    try {
      initial = await loadJobDetail(ctx, actor, full);
    } catch (e) {
      if (e instanceof AppError && e.status === 404) notFound();
      error = errorMessage(e);
    }
  }
  return <JobDetail id={id} initial={initial} initialError={error} />;
}
