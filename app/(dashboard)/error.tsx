'use client';

import { ErrorState } from '@/components/ui/states';

/** A view that failed to render: say so, offer a retry, keep the nav usable. Never shows a stack. */
export default function DashboardError({ reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <div className="py-6">
      <ErrorState title="This view failed to load" message="The server could not render it; the details are in its log. Check the database and try again." onRetry={reset} />
    </div>
  );
}
