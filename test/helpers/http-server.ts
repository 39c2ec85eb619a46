import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { connect, type Database } from '../../server/db/client';
import { freePort } from '../../server/db/embedded';
import { waitFor } from './fixtures';
import { stopServer } from './warden-server';

/**
 * Warden as `npm start` runs it — `bin/prestart.mjs` (build when stale, one builder at a time)
 * then `node bin/server.mjs` — on a fresh embedded database and a free port on 127.0.0.1, plus a
 * raw HTTP client that picks its source address (127.0.0.2, 127.0.0.3, … are all loopback on
 * Linux), so tests see what the server sees from a real socket.
 */
const ROOT = path.resolve(__dirname, '../..');

export interface Server {
  base: string;
  port: number;
  dataDir: string;
  /** A pool on the embedded database the server started. */
  db(): Database;
  stop(): Promise<void>;
}

export async function startServer(name: string, env: Record<string, string>): Promise<Server> {
  execFileSync(process.execPath, [path.join(ROOT, 'bin/prestart.mjs')], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `warden-${name}-`));
  fs.chmodSync(dataDir, 0o755);
  const port = await freePort();
  const childEnv: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'TEST' && k !== 'NODE_ENV') childEnv[k] = v;
  Object.assign(childEnv, {
    WARDEN_DATA_DIR: dataDir,
    WARDEN_NODE_ID: `${name}-${crypto.randomBytes(3).toString('hex')}`,
    // Capacity defaults to the engine's CPUs: overcommit so a 2-core test machine runs more than 1-2 jobs.
    WARDEN_NODE_CPU_OVERCOMMIT: '16',
    LOG_LEVEL: 'warn',
    NEXT_TELEMETRY_DISABLED: '1',
    ...env,
  });
  delete childEnv.DATABASE_URL;
  fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
  const log = fs.createWriteStream(path.join(ROOT, `test-results/server-${name}.log`));
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'bin/server.mjs'), '-p', String(port), '-H', '127.0.0.1'], {
    cwd: ROOT,
    env: childEnv as NodeJS.ProcessEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let pool: Database | null = null;
  const base = `http://127.0.0.1:${port}`;
  const stop = () => stopServer(child, dataDir, pool);
  try {
    await waitFor(async () => {
      if (child.exitCode != null) throw new Error(`bin/server.mjs exited with ${child.exitCode}; see test-results/server-${name}.log`);
      const r = await fetch(`${base}/api/health`).catch(() => null);
      return r != null && r.status < 500;
    }, { timeoutMs: 120_000, intervalMs: 500, what: 'the server to answer /api/health' });
  } catch (e) {
    await stop();
    throw e;
  }
  const db = () => {
    if (!pool) {
      const owner = JSON.parse(fs.readFileSync(path.join(dataDir, 'pg-owner.json'), 'utf8')) as { port: number };
      const pw = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
      pool = connect(`postgres://postgres:${encodeURIComponent(pw)}@127.0.0.1:${owner.port}/postgres`, { max: 2 });
    }
    return pool;
  };
  return { base, port, dataDir, db, stop };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  /** Request bytes written before the response arrived (streamed bodies). */
  sent: number;
}

export interface RawRequest {
  method?: string;
  path: string;
  /** Source address of the socket (any 127.x.y.z). */
  from: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /**
   * Stream the body chunked (no Content-Length): `chunk` bytes every tick until `total` bytes or
   * until the response arrives, whichever is first. Then the body is ended, or with `hold` left
   * open for good: a body that never ends, so only a server that answers before the end passes.
   * (Holding instead of writing flat-out keeps the test deterministic: a client still writing
   * when the server closes gets EPIPE, and Node drops the answer it had not read yet.)
   */
  stream?: { chunk: number; total: number; hold?: boolean };
}

/** One request on a fresh socket from `from`; resolves with the response, however much of the body was sent. */
export function rawRequest(port: number, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const headers: Record<string, string> = { ...(r.headers ?? {}) };
    if (r.body !== undefined && !r.stream && !headers['transfer-encoding']) headers['content-length'] ??= String(Buffer.byteLength(r.body));
    const req = http.request({ host: '127.0.0.1', port, localAddress: r.from, method: r.method ?? 'GET', path: r.path, headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, sent });
        req.destroy();
      });
      res.on('error', reject);
    });
    // Writing into a socket the server already answered and closed fails: that is expected.
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    if (r.stream) {
      const piece = Buffer.alloc(r.stream.chunk, 'a');
      const tick = () => {
        if (answered || req.destroyed) return;
        if (sent >= r.stream!.total) return void (r.stream!.hold ? undefined : req.end());
        sent += piece.length;
        // A pause between writes lets the event loop read the server's answer: once the server
        // has answered and closed, the next write fails (EPIPE) and Node drops the socket with
        // whatever it had not read yet.
        req.write(piece, () => setTimeout(tick, 2));
      };
      tick();
    } else {
      if (r.body !== undefined) {
        req.write(r.body);
        sent = Buffer.byteLength(r.body);
      }
      req.end();
    }
  });
}

/** The id of a server action by file and export name, from the build's manifest. */
export function actionId(file: string, exportedName: string): string {
  const m = JSON.parse(fs.readFileSync(path.join(ROOT, '.next/server/server-reference-manifest.json'), 'utf8')) as {
    node: Record<string, { filename: string; exportedName: string }>;
  };
  const hit = Object.entries(m.node).find(([, v]) => v.filename === file && v.exportedName === exportedName);
  if (!hit) throw new Error(`no server action ${exportedName} in ${file} in the build`);
  return hit[0];
}
