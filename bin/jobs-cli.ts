/**
 * `npm run warden -- jobs …`: the user CLI, a thin HTTP client of a running Warden's /api/v1
 * (unlike the bootstrap commands in ./warden.ts, it never touches the database).
 *
 *   jobs submit --image IMG [options] [--wait] [-- command args…]
 *   jobs list [--status s,…] [--user U] [--limit N] [--cursor C]
 *   jobs get ID · jobs logs ID [--follow] · jobs cancel ID
 *   jobs kill ID [--force] [--reason R] · jobs extend ID --seconds N [--reason R]
 *   jobs results ID [--output FILE]
 *
 * Key: --key or WARDEN_API_KEY. Server: --url or WARDEN_URL (default http://localhost:3000).
 * Output: one line of JSON on stdout (errors as the API's error JSON on stderr); --table prints
 * a readable table instead. Exit codes are in EXIT below (and the README).
 */
import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes scripts can rely on. With `submit --wait` the job's own outcome decides. */
export const EXIT = {
  ok: 0,
  /** The server refused the request (4xx/5xx; its error JSON is on stderr). */
  refused: 1,
  usage: 2,
  /** No server answered at WARDEN_URL. */
  unreachable: 3,
  /** submit --wait: the job timed out (as timeout(1) does). */
  timedOut: 124,
  /** submit --wait: the job failed before its command could run (no exit code), or was lost. */
  noExitCode: 125,
  /** submit --wait: the job was cancelled while queued. */
  cancelled: 130,
  /** submit --wait: the job was killed (128 + SIGKILL). */
  killed: 137,
} as const;

const USAGE = `usage: npm run warden -- jobs <command> [options]
  submit --image IMG [--name N] [--class C] [--timeout S] [--idle-timeout S] [--grace S] [--ttl S]
         [--retries N] [--results-path /out] [--env K=V]… [--label K=V]… [--parent ID] [--user ID]
         [--wait] [-- command args…]
  list [--status running,queued,…] [--user U] [--limit N] [--cursor C]
  get ID
  logs ID [--follow]
  cancel ID
  kill ID [--force] [--reason R]
  extend ID --seconds N [--reason R] [--override-cap]
  results ID [--output FILE]      (the job's results tar; stdout when no --output)
options for every command: --key KEY (or WARDEN_API_KEY), --url URL (or WARDEN_URL, default
http://localhost:3000), --table (a readable table instead of JSON)
exit codes: 0 ok, 1 refused by the server, 2 usage, 3 server unreachable; submit --wait exits
with the job's exit code, 124 timed out, 125 no exit code (start failed, lost), 130 cancelled, 137 killed`;

class CliError extends Error {
  constructor(
    readonly exit: number,
    message: string,
  ) {
    super(message);
  }
}
/** Usage errors print like every other error: the API's error JSON, on stderr. */
const usage = (why: string) => new CliError(EXIT.usage, JSON.stringify({ error: { code: 'usage', message: `${why} (npm run warden -- jobs help)` } }));

interface Job {
  id: string;
  name: string | null;
  status: string;
  exitCode: number | null;
  reason: string | null;
  timeoutSeconds: number;
  timeoutSource: string;
  class: string | null;
  queuedAt: string;
  deadlineAt: string | null;
  image: string;
}

const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled']);

/** The exit code `submit --wait` ends with for a finished job. */
export function exitCodeFor(j: Pick<Job, 'status' | 'exitCode'>): number {
  switch (j.status) {
    case 'succeeded':
      return EXIT.ok;
    case 'failed':
      return j.exitCode != null && j.exitCode > 0 && j.exitCode < 256 ? j.exitCode : EXIT.noExitCode;
    case 'timed_out':
      return EXIT.timedOut;
    case 'killed':
      return EXIT.killed;
    case 'cancelled':
      return EXIT.cancelled;
    default:
      return EXIT.noExitCode;
  }
}

class Client {
  constructor(
    private readonly base: string,
    private readonly key: string,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: { authorization: `Bearer ${this.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(EXIT.unreachable, JSON.stringify({ error: { code: 'unreachable', message: `No Warden answered at ${this.base}: ${cause?.code ?? cause?.message ?? (e as Error).message}` } }));
    }
    if (!res.ok) {
      const text = await res.text();
      let out = text;
      try {
        JSON.parse(text);
      } catch {
        out = JSON.stringify({ error: { code: `http_${res.status}`, message: text.slice(0, 500) || res.statusText } });
      }
      throw new CliError(EXIT.refused, out);
    }
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function table(rows: Record<string, unknown>[], cols: string[]): string {
  const cell = (v: unknown) => (v == null ? '-' : String(v).replace(/\s+/g, ' '));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => Math.min(60, cell(r[c]).length))));
  const line = (vals: string[]) => vals.map((v, i) => (v.length > 60 ? `${v.slice(0, 59)}…` : v).padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

function jobRows(jobs: Job[]) {
  return jobs.map((j) => ({
    id: j.id,
    name: j.name,
    status: j.status,
    exit: j.exitCode,
    timeout: `${j.timeoutSeconds}s (${j.timeoutSource})`,
    class: j.class,
    queued: j.queuedAt.replace('T', ' ').slice(0, 19),
    reason: j.reason,
  }));
}
const JOB_COLS = ['id', 'name', 'status', 'exit', 'timeout', 'class', 'queued', 'reason'];

function print(v: unknown, asTable: boolean): void {
  if (!asTable) {
    console.log(JSON.stringify(v));
    return;
  }
  const o = v as { jobs?: Job[]; nextCursor?: string | null; id?: string };
  if (o.jobs) {
    console.log(o.jobs.length ? table(jobRows(o.jobs), JOB_COLS) : 'no jobs');
    if (o.nextCursor) console.log(`more: --cursor ${o.nextCursor}`);
  } else if (o.id) console.log(table(jobRows([v as Job]), JOB_COLS));
  else console.log(JSON.stringify(v, null, 2));
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

const COMMON: ParseArgsConfig['options'] = {
  key: { type: 'string' },
  url: { type: 'string' },
  table: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const OPTIONS: Record<string, ParseArgsConfig['options']> = {
  submit: {
    image: { type: 'string' },
    name: { type: 'string' },
    class: { type: 'string' },
    timeout: { type: 'string' },
    'idle-timeout': { type: 'string' },
    grace: { type: 'string' },
    ttl: { type: 'string' },
    retries: { type: 'string' },
    'results-path': { type: 'string' },
    env: { type: 'string', multiple: true },
    label: { type: 'string', multiple: true },
    parent: { type: 'string' },
    user: { type: 'string' },
    wait: { type: 'boolean' },
  },
  list: { status: { type: 'string' }, user: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
  get: {},
  logs: { follow: { type: 'boolean', short: 'f' } },
  cancel: {},
  kill: { force: { type: 'boolean' }, reason: { type: 'string' } },
  extend: { seconds: { type: 'string' }, reason: { type: 'string' }, 'override-cap': { type: 'boolean' } },
  results: { output: { type: 'string', short: 'o' } },
};

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  // Sent as a number; the server's rules (and messages) decide what is allowed.
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw usage(`--${flag} must be a number (got "${v}")`);
  return n;
}

function pairs(flag: string, vals: string[] | undefined): Record<string, string> | undefined {
  if (!vals?.length) return undefined;
  const out: Record<string, string> = {};
  for (const v of vals) {
    const i = v.indexOf('=');
    if (i <= 0) throw usage(`--${flag} takes KEY=VALUE (got "${v}")`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the job until it is final (0.5 s, then up to every 2 s). */
async function waitFinal(c: Client, id: string): Promise<Job> {
  let delay = 500;
  for (;;) {
    const j = await c.json<Job>('GET', `/api/v1/jobs/${id}`);
    if (FINAL.has(j.status)) return j;
    await sleep(delay);
    delay = Math.min(2000, delay * 1.5);
  }
}

async function followLogs(c: Client, id: string): Promise<void> {
  // A queued job has nothing to follow yet: wait until it runs (or ends).
  for (let delay = 500; ; delay = Math.min(2000, delay * 1.5)) {
    const j = await c.json<Job>('GET', `/api/v1/jobs/${id}`);
    if (!['queued', 'starting'].includes(j.status)) break;
    await sleep(delay);
  }
  const res = await c.request('GET', `/api/v1/jobs/${id}/logs?follow=true`);
  if (!res.body) return;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return EXIT.ok;
  }
  const opts = OPTIONS[cmd];
  if (!opts) throw usage(`unknown command "jobs ${cmd}"`);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: { ...COMMON, ...opts }, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const pos = parsed.positionals;
  if (v.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const key = (v.key as string | undefined) ?? process.env.WARDEN_API_KEY;
  if (!key) throw usage('no API key: pass --key or set WARDEN_API_KEY');
  const base = (v.url as string | undefined) ?? process.env.WARDEN_URL ?? 'http://localhost:3000';
  try {
    new URL(base);
  } catch {
    throw usage(`--url / WARDEN_URL is not a URL: "${base}"`);
  }
  const c = new Client(base, key);
  const asTable = !!v.table;
  const one = (): string => {
    if (pos.length !== 1) throw usage(`jobs ${cmd} takes one job id${pos.length ? ` (got ${pos.length} arguments)` : ''}`);
    return encodeURIComponent(pos[0]!);
  };

  switch (cmd) {
    case 'submit': {
      if (!v.image) throw usage('jobs submit needs --image');
      const body: Record<string, unknown> = {
        image: v.image,
        ...(pos.length ? { command: pos } : {}),
        name: v.name,
        class: v.class,
        timeoutSeconds: int('timeout', v.timeout as string | undefined),
        idleTimeoutSeconds: int('idle-timeout', v['idle-timeout'] as string | undefined),
        gracePeriodSeconds: int('grace', v.grace as string | undefined),
        ttlSecondsAfterFinished: int('ttl', v.ttl as string | undefined),
        maxRetries: int('retries', v.retries as string | undefined),
        resultsPath: v['results-path'],
        env: pairs('env', v.env as string[] | undefined),
        labels: pairs('label', v.label as string[] | undefined),
        parentId: v.parent,
      };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      const q = v.user ? `?user=${encodeURIComponent(v.user as string)}` : '';
      const job = await c.json<Job>('POST', `/api/v1/jobs${q}`, body);
      if (!v.wait) {
        print(job, asTable);
        return EXIT.ok;
      }
      const done = await waitFinal(c, job.id);
      print(done, asTable);
      return exitCodeFor(done);
    }
    case 'list': {
      const q = new URLSearchParams();
      for (const k of ['status', 'user', 'limit', 'cursor'] as const) if (typeof v[k] === 'string') q.set(k, v[k] as string);
      if (pos.length) throw usage('jobs list takes no arguments');
      print(await c.json('GET', `/api/v1/jobs${q.size ? `?${q}` : ''}`), asTable);
      return EXIT.ok;
    }
    case 'get':
      print(await c.json('GET', `/api/v1/jobs/${one()}`), asTable);
      return EXIT.ok;
    case 'logs': {
      const id = one();
      if (v.follow) await followLogs(c, id);
      else process.stdout.write(await (await c.request('GET', `/api/v1/jobs/${id}/logs`)).text());
      return EXIT.ok;
    }
    case 'cancel':
      print(await c.json('POST', `/api/v1/jobs/${one()}/cancel`), asTable);
      return EXIT.ok;
    case 'kill':
      print(await c.json('POST', `/api/v1/jobs/${one()}/kill`, { ...(v.force ? { force: true } : {}), ...(v.reason ? { reason: v.reason } : {}) }), asTable);
      return EXIT.ok;
    case 'extend': {
      const id = one();
      const seconds = int('seconds', v.seconds as string | undefined);
      if (seconds === undefined) throw usage('jobs extend needs --seconds N');
      print(await c.json('POST', `/api/v1/jobs/${id}/extend`, { seconds, ...(v.reason ? { reason: v.reason } : {}), ...(v['override-cap'] ? { overrideCap: true } : {}) }), asTable);
      return EXIT.ok;
    }
    case 'results': {
      const res = await c.request('GET', `/api/v1/jobs/${one()}/results`);
      const buf = Buffer.from(await res.arrayBuffer());
      if (typeof v.output === 'string') {
        fs.writeFileSync(v.output, buf);
        console.log(JSON.stringify({ output: v.output, bytes: buf.length, truncated: res.headers.get('warden-results-truncated') === 'true' }));
      } else process.stdout.write(buf);
      return EXIT.ok;
    }
  }
  throw usage(`unknown command "jobs ${cmd}"`);
}

/** Entry from bin/warden.ts: runs the command, prints errors, returns the exit code. */
export async function runJobsCli(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    if (e instanceof CliError) {
      console.error(e.message);
      return e.exit;
    }
    console.error(JSON.stringify({ error: { code: 'internal', message: (e as Error)?.message ?? String(e) } }));
    return EXIT.refused;
  }
}
