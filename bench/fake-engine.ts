/**
 * A Docker Engine API stand-in on a unix socket, for the worker-memory bench at sizes this machine
 * cannot run for real (10,000 containers): the real `npm run worker` talks to it through its own
 * dockerode client exactly as to a real engine (DOCKER_HOST=unix://…), and it answers what the
 * worker asks at steady state: ping, info, version, image inspect, container create / start /
 * inspect / list (label filters) / kill / remove, an events stream (start and die events), and
 * logs (empty). Containers cost a Map entry here, so the figures are the worker's own.
 * Anything else is answered 404 and counted in `unknown`, which the bench reports.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

interface FakeContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  image: string;
  running: boolean;
  exitCode: number;
  created: number;
  startedAt: string;
  finishedAt: string;
}

const ZERO = '0001-01-01T00:00:00Z';

export interface FakeEngine {
  socket: string;
  /** The engine ID it reports (`docker info`), unique per stand-in. */
  id: string;
  containers: Map<string, FakeContainer>;
  /** When each job's container was first sent SIGTERM (warden.job label → ms since epoch). */
  sigterms: Map<string, number>;
  unknown: Map<string, number>;
  close(): Promise<void>;
}

export interface FakeEngineOptions {
  /** Answer container create and start after this many ms, kill and remove after half of it (an engine's usual 10-50 ms). */
  latencyMs?: number;
}

export async function startFakeEngine(socket: string, o: FakeEngineOptions = {}): Promise<FakeEngine> {
  const latency = o.latencyMs ?? 0;
  const sigterms = new Map<string, number>();
  fs.rmSync(socket, { force: true });
  const containers = new Map<string, FakeContainer>();
  const byName = new Map<string, string>();
  const unknown = new Map<string, number>();
  const listeners = new Set<http.ServerResponse>();
  const id = `FAKE:${crypto.randomBytes(6).toString('hex').toUpperCase()}`;

  const event = (action: string, c: FakeContainer, extra: Record<string, string> = {}) => {
    const now = Date.now();
    const line = JSON.stringify({ status: action, id: c.id, from: c.image, Type: 'container', Action: action, Actor: { ID: c.id, Attributes: { ...c.labels, name: c.name, image: c.image, ...extra } }, scope: 'local', time: Math.floor(now / 1000), timeNano: now * 1e6 });
    for (const r of listeners) r.write(line + '\n');
  };
  const send = (res: http.ServerResponse, status: number, body?: unknown) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'api-version': '1.43' });
    res.end(text);
  };
  const find = (ref: string) => containers.get(byName.get(ref) ?? ref) ?? [...containers.values()].find((c) => c.id.startsWith(ref));
  const summary = (c: FakeContainer) => ({ Id: c.id, Names: [`/${c.name}`], Image: c.image, ImageID: 'sha256:fake', Command: 'sleep', Created: c.created, State: c.running ? 'running' : 'exited', Status: c.running ? 'Up' : `Exited (${c.exitCode})`, Labels: c.labels, Ports: [], Mounts: [] });
  const inspect = (c: FakeContainer) => ({
    Id: c.id,
    Name: `/${c.name}`,
    Created: new Date(c.created * 1000).toISOString(),
    State: { Status: c.running ? 'running' : 'exited', Running: c.running, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: c.running ? 1 : 0, ExitCode: c.exitCode, Error: '', StartedAt: c.startedAt, FinishedAt: c.finishedAt },
    Config: { Labels: c.labels, Image: c.image },
    HostConfig: {},
    Mounts: [],
  });

  const pause = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://engine');
      const p = url.pathname.replace(/^\/v1\.\d+/, '');
      const m = req.method ?? 'GET';
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
      } catch {
        /* not JSON */
      }
      if (p === '/_ping') {
        res.writeHead(200, { 'content-type': 'text/plain', 'api-version': '1.43' });
        return res.end('OK');
      }
      if (p === '/info') return send(res, 200, { ID: id, NCPU: 2, MemTotal: 64 * 2 ** 30, Runtimes: { runc: {} }, DefaultRuntime: 'runc', Name: 'fake-engine', ServerVersion: 'fake' });
      if (p === '/version') return send(res, 200, { Version: 'fake', ApiVersion: '1.43', MinAPIVersion: '1.24', Os: 'linux', Arch: 'amd64' });
      if (p === '/events') {
        res.writeHead(200, { 'content-type': 'application/json', 'api-version': '1.43' });
        res.flushHeaders();
        listeners.add(res);
        req.socket.on('close', () => listeners.delete(res));
        return;
      }
      let mm: RegExpExecArray | null;
      if ((mm = /^\/images\/(.+)\/json$/.exec(p))) return send(res, 200, { Id: `sha256:${crypto.createHash('sha256').update(decodeURIComponent(mm[1]!)).digest('hex')}`, RepoTags: [decodeURIComponent(mm[1]!)], Config: { Labels: {} } });
      if (p === '/containers/json') {
        const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as { label?: string[] | Record<string, boolean> };
        const want = Array.isArray(filters.label) ? filters.label : Object.keys(filters.label ?? {});
        const all = url.searchParams.get('all') === 'true' || url.searchParams.get('all') === '1';
        const out = [];
        for (const c of containers.values()) {
          if (!all && !c.running) continue;
          if (want.every((w) => { const eq = w.indexOf('='); return eq < 0 ? w in c.labels : c.labels[w.slice(0, eq)] === w.slice(eq + 1); })) out.push(summary(c));
        }
        return send(res, 200, out);
      }
      if (p === '/containers/create' && m === 'POST') {
        await pause(latency);
        const name = url.searchParams.get('name') ?? `fake_${crypto.randomBytes(4).toString('hex')}`;
        if (byName.has(name)) return send(res, 409, { message: `Conflict. The container name "/${name}" is already in use` });
        const c: FakeContainer = { id: crypto.randomBytes(32).toString('hex'), name, labels: (body.Labels as Record<string, string>) ?? {}, image: String(body.Image ?? ''), running: false, exitCode: 0, created: Math.floor(Date.now() / 1000), startedAt: ZERO, finishedAt: ZERO };
        containers.set(c.id, c);
        byName.set(name, c.id);
        event('create', c);
        return send(res, 201, { Id: c.id, Warnings: [] });
      }
      if ((mm = /^\/containers\/([^/]+)(\/\w+)?$/.exec(p))) {
        const c = find(decodeURIComponent(mm[1]!));
        const op = mm[2] ?? '';
        if (!c) return send(res, 404, { message: `No such container: ${mm[1]}` });
        if (op === '/json') return send(res, 200, inspect(c));
        if (op === '/start' && m === 'POST') {
          await pause(latency);
          if (c.running) return send(res, 304);
          c.running = true;
          c.startedAt = new Date().toISOString();
          event('start', c);
          return send(res, 204);
        }
        if (op === '/kill' && m === 'POST') {
          const signal = url.searchParams.get('signal') ?? 'SIGKILL';
          const job = c.labels['warden.job'];
          if (signal === 'SIGTERM' && job && !sigterms.has(job)) sigterms.set(job, Date.now());
          await pause(latency / 2);
          if (!c.running) return send(res, 409, { message: `Container ${c.id} is not running` });
          event('kill', c, { signal: signal === 'SIGTERM' ? '15' : '9' });
          c.running = false;
          c.exitCode = 137;
          c.finishedAt = new Date().toISOString();
          event('die', c, { exitCode: '137' });
          return send(res, 204);
        }
        if (op === '/logs') {
          res.writeHead(200, { 'content-type': 'application/vnd.docker.raw-stream', 'api-version': '1.43' });
          return res.end();
        }
        if (op === '' && m === 'DELETE') {
          await pause(latency / 2);
          containers.delete(c.id);
          byName.delete(c.name);
          event('destroy', c);
          return send(res, 204);
        }
      }
      const key = `${m} ${p.replace(/[0-9a-f]{64}/g, ':id')}`;
      unknown.set(key, (unknown.get(key) ?? 0) + 1);
      return send(res, 404, { message: `not emulated: ${key}` });
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    socket,
    id,
    containers,
    sigterms,
    unknown,
    close: async () => {
      for (const r of listeners) r.end();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(socket, { force: true });
    },
  };
}
