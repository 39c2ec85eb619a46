/**
 * A typed Warden API client: openapi-fetch over the types openapi-typescript generated from the
 * server's own OpenAPI document (./schema.ts), so a call the API does not accept, or a field it
 * does not send, fails the type check. The CLI (bin/jobs-cli.ts) talks to the server through it.
 *
 *   const warden = createWardenClient({ baseUrl: 'http://localhost:3000', key: process.env.WARDEN_API_KEY! });
 *   const { data, error } = await warden.POST('/api/v1/jobs', { body: { image: 'busybox:1.36', timeoutSeconds: 60 } });
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema';

export type { components, paths };
export type WardenClient = Client<paths>;
export type Job = components['schemas']['Job'];
export type Webhook = components['schemas']['Webhook'];
export type WebhookDelivery = components['schemas']['WebhookDelivery'];
export type ApiError = components['schemas']['Error'];

export function createWardenClient(o: { baseUrl: string; key: string; fetch?: (req: Request) => Promise<Response> }): WardenClient {
  return createClient<paths>({
    baseUrl: o.baseUrl.replace(/\/+$/, ''),
    headers: { authorization: `Bearer ${o.key}` },
    ...(o.fetch ? { fetch: o.fetch } : {}),
  });
}
