import { openApiDocument } from '@/server/api/openapi';
import { errorResponse, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** GET /api/v1/openapi.json — the OpenAPI 3.1 document of every /api/v1 route (no key needed). */
export async function GET(): Promise<Response> {
  try {
    return json(openApiDocument(), 200, { 'cache-control': 'public, max-age=300' });
  } catch (e) {
    return errorResponse(e);
  }
}
