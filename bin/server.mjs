#!/usr/bin/env node
/**
 * `npm start` runs this instead of a bare `next start`: the same Next.js production server
 * (instrumentation, worker, every route), behind a small Node HTTP server that does the two
 * things only the socket can tell:
 *
 * 1. The client's address. Next 16 gives route handlers and server actions headers, never the
 *    socket, and every header is the client's to write. So every request's `x-warden-peer`
 *    (the socket's remote address) and `x-warden-peer-proto` (http/https of this connection) are
 *    deleted and re-stamped here, and globalThis.__wardenPeerStamp tells the app (same process)
 *    that they can be believed. server/auth/session.ts clientAddress() reads them, and trusts
 *    X-Forwarded-For / X-Forwarded-Proto only when the peer is in WARDEN_TRUSTED_PROXIES.
 *
 * 2. The server-action body limit. Next counts server-action bytes itself but answers an
 *    oversized body with a 500; here it is a 413 in the API's error shape, decided from the
 *    Content-Length before anything is read, or after at most the limit of a chunked body.
 *    Route handlers enforce their own limits (server/http.ts BODY_LIMITS).
 *
 * Usage: node bin/server.mjs [-p PORT] [-H HOSTNAME]  (PORT from the environment otherwise).
 */
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACTION_BODY_LIMIT_BYTES } from '../next.config.js';

const PEER = 'x-warden-peer';
const PEER_PROTO = 'x-warden-peer-proto';

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-p' || a === '--port') out.port = argv[++i];
    else if (a === '-H' || a === '--hostname') out.hostname = argv[++i];
    else throw new Error(`unknown argument ${a} (usage: bin/server.mjs [-p PORT] [-H HOSTNAME])`);
  }
  return out;
}

function sendError(res, status, code, message, { close = true } = {}) {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...(close ? { connection: 'close' } : {}) });
  res.end(body);
}

/** Deletes every copy of our headers a client sent, then stamps the socket's own values. */
function stamp(req) {
  for (const h of [PEER, PEER_PROTO]) delete req.headers[h];
  const raw = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i].toLowerCase();
    if (k !== PEER && k !== PEER_PROTO) raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const peer = req.socket.remoteAddress ?? '';
  const proto = req.socket.encrypted ? 'https' : 'http';
  req.headers[PEER] = peer;
  req.headers[PEER_PROTO] = proto;
  raw.push(PEER, peer, PEER_PROTO, proto);
  // rawHeaders is a getter-less own property on IncomingMessage: replace it so no consumer
  // sees a client's copy.
  Object.defineProperty(req, 'rawHeaders', { value: raw, writable: true, configurable: true });
}

/** A fresh, already-complete request carrying `body`, for Next to read as if from the socket. */
function replay(req, body) {
  const r = new http.IncomingMessage(req.socket);
  r.method = req.method;
  r.url = req.url;
  r.httpVersion = req.httpVersion;
  r.httpVersionMajor = req.httpVersionMajor;
  r.httpVersionMinor = req.httpVersionMinor;
  const headers = { ...req.headers, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  r.headers = headers;
  r.rawHeaders = Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v.flatMap((x) => [k, x]) : [k, String(v)]));
  r.push(body);
  r.push(null);
  r.complete = true;
  return r;
}

/**
 * Server actions are POSTs with a `Next-Action` header. Over the limit by Content-Length: 413 at
 * once, nothing read, `Connection: close`. Chunked: read at most limit + 1 bytes; over: 413, and
 * what the client still sends is discarded for a moment before the socket closes (see
 * lingerAfterResponse). Under the limit: handed to Next as a complete request.
 */
function limitAction(req, res, limit) {
  const refuse = (close) => sendError(res, 413, 'body_too_large', `Request body is larger than the ${limit} bytes a dashboard action accepts`, { close });
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    if (Number(declared) > limit) {
      refuse(true);
      return Promise.resolve(null);
    }
    return Promise.resolve(req);
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (chunk) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.pause();
        refuse(false);
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(replay(req, Buffer.concat(chunks, size)));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

/**
 * Lingering close: when a response is sent before the request body has arrived (a 413, a 401 to a
 * large upload), keep reading and discarding what the client still sends, for a little while,
 * then close. Closing at once, with unread bytes in the kernel's buffer, makes it reset the
 * connection, and a client still writing would never see the answer.
 */
const LINGER_MS = 2_000;
const LINGER_BYTES = 8 * 1024 * 1024;
function lingerAfterResponse(req, res) {
  res.once('finish', () => {
    if (req.complete || req.destroyed) return;
    let drained = 0;
    const close = () => req.socket.destroy();
    const timer = setTimeout(close, LINGER_MS);
    timer.unref();
    req.on('data', (c) => {
      drained += c.length;
      if (drained > LINGER_BYTES) {
        clearTimeout(timer);
        close();
      }
    });
    req.once('end', () => clearTimeout(timer));
    req.resume();
  });
}

async function main() {
  const a = args(process.argv.slice(2));
  const port = Number(a.port ?? process.env.PORT ?? 3000);
  // Like `next start`: every interface unless -H says otherwise (not $HOSTNAME, which shells set to the machine's name).
  const hostname = a.hostname ?? undefined;
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  globalThis.__wardenPeerStamp = true;
  // As `next start` does, before Next (and React, which picks its build from it) is loaded.
  process.env.NODE_ENV = 'production';
  const { default: next } = await import('next');
  const app = next({ dev: false, dir, hostname, port });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = http.createServer(async (req, res) => {
    try {
      stamp(req);
      lingerAfterResponse(req, res);
      let forNext = req;
      if (req.method === 'POST' && req.headers['next-action'] !== undefined) {
        forNext = await limitAction(req, res, ACTION_BODY_LIMIT_BYTES);
        if (!forNext) return;
      }
      await handle(forNext, res);
    } catch (e) {
      console.error('warden server: request failed', e);
      if (!res.headersSent) sendError(res, 500, 'internal', 'Internal error; see the server log');
      else res.destroy();
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.listen(port, hostname, () => {
    console.log(`Warden listening on http://${hostname ?? 'localhost'}:${port}`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
