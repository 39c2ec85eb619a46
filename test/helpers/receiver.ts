import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP webhook receiver on 127.0.0.1 for tests. Records every request (headers and the raw
 * body) and answers with whatever `handler` says (status, or `hang` to never answer).
 */
export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  at: number;
}

/** A status (body "ok" or "receiver says <status>"), a status with a body of one's own, or never answer. */
export type Answer = number | { status: number; body: string } | 'hang';

export interface Receiver {
  url: (path?: string) => string;
  received: Received[];
  /** Decides the answer for each request (default 200). */
  handler: (r: Received) => Answer | Promise<Answer>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const sockets = new Set<import('node:net').Socket>();
  const rec: Receiver = {
    url: () => '',
    received: [],
    handler: () => 200,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = null;
      try {
        body = JSON.parse(raw);
      } catch {
        /* recorded as is */
      }
      const r: Received = { path: req.url ?? '/', headers: req.headers, raw, body, at: Date.now() };
      rec.received.push(r);
      let answer: Answer = 200;
      try {
        answer = await rec.handler(r);
      } catch {
        answer = 500;
      }
      if (answer === 'hang') return;
      if (typeof answer === 'object') {
        res.writeHead(answer.status, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(answer.body);
        return;
      }
      res.writeHead(answer, { 'content-type': 'text/plain' });
      res.end(answer >= 200 && answer < 300 ? 'ok' : `receiver says ${answer}`);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  rec.url = (p = '/hook') => `http://127.0.0.1:${port}${p}`;
  return rec;
}

/**
 * Recomputes Warden-Signature the way a receiver would: HMAC-SHA256(secret, "<t>.<raw body>") in
 * hex, compared in constant time. Returns the signed time (unix seconds), or throws.
 */
export function verifySignature(secret: string, header: string | string[] | undefined, raw: string): number {
  if (typeof header !== 'string') throw new Error('no Warden-Signature header');
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1) throw new Error(`malformed signature header ${header}`);
  const expected = crypto.createHmac('sha256', secret).update(`${parts.t}.${raw}`).digest();
  const got = Buffer.from(parts.v1, 'hex');
  if (got.length !== expected.length || !crypto.timingSafeEqual(got, expected)) throw new Error('signature does not match');
  return t;
}
