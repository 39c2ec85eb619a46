import type { Metadata } from 'next';
import { JobsView } from '@/components/jobs/jobs-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadJobs } from '@/server/dashboard/loaders';
import { errorMessage, flatParams } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Jobs' };

export default async function JobsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const actor = await requireSession();
  const sp = flatParams(await searchParams);
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadJobs(await getAppContext(), actor, sp);
  } catch (e) {
    error = errorMessage(e);
  }
  return <JobsView initial={initial} initialError={error} />;
}
