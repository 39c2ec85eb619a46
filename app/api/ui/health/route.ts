import { uiRoute } from '@/server/auth/ui-route';
import { loadHealthBanner } from '@/server/dashboard/loaders';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ actor }) => loadHealthBanner(actor));
