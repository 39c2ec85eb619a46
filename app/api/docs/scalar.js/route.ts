import fs from 'node:fs';
import path from 'node:path';

export const dynamic = 'force-dynamic';

/**
 * GET /api/docs/scalar.js — Scalar's self-contained browser bundle, straight from node_modules
 * (@scalar/api-reference), so the reference at /api/docs needs no CDN. Read once per process.
 */
const FILE = path.join(process.cwd(), 'node_modules', '@scalar', 'api-reference', 'dist', 'browser', 'standalone.js');
const g = globalThis as unknown as { __wardenScalar?: Buffer };

export function GET(): Response {
  try {
    g.__wardenScalar ??= fs.readFileSync(FILE);
  } catch {
    return new Response(JSON.stringify({ error: { code: 'not_installed', message: 'The API reference viewer (@scalar/api-reference) is not installed: run npm install' } }), {
      status: 503,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
  }
  return new Response(new Uint8Array(g.__wardenScalar), {
    headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' },
  });
}
