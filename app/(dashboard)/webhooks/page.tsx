import type { Metadata } from 'next';
import { WebhooksView } from '@/components/webhooks/webhooks-view';
import { getAppContext } from '@/server/app';
import { requireSession } from '@/server/auth/session';
import { loadWebhooks } from '@/server/dashboard/loaders';
import { errorMessage, flatParams } from '../page-utils';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Webhooks' };

export default async function WebhooksPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const actor = await requireSession();
  const sp = flatParams(await searchParams);
  let initial = null;
  let error: string | null = null;
  try {
    initial = await loadWebhooks(await getAppContext(), actor, sp);
  } catch (e) {
    error = errorMessage(e);
  }
  return <WebhooksView initial={initial} initialError={error} />;
}
