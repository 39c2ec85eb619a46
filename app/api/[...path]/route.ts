import { json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** Unknown API paths answer in the API's error shape, not with the dashboard's HTML 404 page. */
function notFound(req: Request): Response {
  const { pathname } = new URL(req.url);
  return json({ error: { code: 'not_found', message: `No API route ${req.method} ${pathname}` } }, 404);
}

export const GET = notFound;
export const POST = notFound;
export const PUT = notFound;
export const PATCH = notFound;
export const DELETE = notFound;
