export const dynamic = 'force-static';

/**
 * GET /api/docs — the API reference for people: the OpenAPI document (/api/v1/openapi.json)
 * rendered in the browser by Scalar, whose script is served from node_modules by
 * /api/docs/scalar.js. Nothing is loaded from anywhere else (no CDN, no web fonts: the page
 * works offline). No key needed, like the document itself.
 */
const CONFIG = {
  // Scalar's defaults fetch fonts from its CDN and offer its hosted proxy and client: all off.
  withDefaultFonts: false,
  hideClientButton: true,
  hideDownloadButton: false,
  showDeveloperTools: 'never',
  telemetry: false,
  agent: { disabled: true },
  metaData: { title: 'Warden API reference' },
};

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Warden API reference</title>
    <style>body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }</style>
  </head>
  <body>
    <noscript>The API reference needs JavaScript. The raw document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></noscript>
    <script id="api-reference" data-url="/api/v1/openapi.json" data-configuration='${JSON.stringify(CONFIG).replace(/'/g, '&#39;')}'></script>
    <script src="/api/docs/scalar.js"></script>
  </body>
</html>
`;

export function GET(): Response {
  return new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'public, max-age=300' } });
}
