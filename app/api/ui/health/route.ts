import { uiRoute } from '@/server/auth/ui-route';
import { loadHealthBanner } from '@/server/db/queries/views';

export const dynamic = 'force-dynamic';

export const GET = uiRoute('viewer', ({ actor }) => loadHealthBanner(actor));
