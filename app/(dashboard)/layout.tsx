import type { ReactNode } from 'react';
import { HealthBanner } from '@/components/health-banner';
import { ExtendDialogHost } from '@/components/jobs/extend-dialog';
import { LiveProvider } from '@/components/lib/live';
import { MeProvider } from '@/components/lib/me';
import { NowProvider } from '@/components/lib/use-now';
import { KeyboardShortcuts } from '@/components/keyboard-shortcuts';
import { Nav } from '@/components/nav';
import { requireSession } from '@/server/auth/session';

export const dynamic = 'force-dynamic';

export default async function DashboardLayout({ children }: { children: ReactNode }) {
  const me = await requireSession();
  // A server component renders once per request, so reading the clock here is deliberate: it
  // anchors client countdowns to the server's time.
  // eslint-disable-next-line react-hooks/purity
  const serverNow = Date.now();
  return (
    <MeProvider me={{ email: me.email, role: me.role }}>
      <NowProvider serverNow={serverNow}>
        <LiveProvider>
        <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-sm focus:shadow">
          Skip to content
        </a>
        <Nav />
        <KeyboardShortcuts />
        <HealthBanner />
        <main id="main" className="mx-auto w-full max-w-[1600px] px-4 py-6 sm:px-6 lg:px-8">
          <ExtendDialogHost>{children}</ExtendDialogHost>
        </main>
        </LiveProvider>
      </NowProvider>
    </MeProvider>
  );
}
