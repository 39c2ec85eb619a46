import { redirect } from 'next/navigation';
import { getSessionActor } from '@/server/auth/session';

export const dynamic = 'force-dynamic';

export default async function Home() {
  const actor = await getSessionActor();
  redirect(actor ? '/overview' : '/login');
}
