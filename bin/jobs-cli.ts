/**
 * `warden jobs …`: the user CLI, a thin client of a running Warden's /api/v1 through the typed
 * client (client/), so it cannot drift from the API. It never touches the database.
 *
 *   jobs submit --image IMG [options] [--wait | --attach] [-- command args…]
 *   jobs list [--status s,…] [--user U] [--limit N] [--cursor C] [--watch]
 *   jobs get ID · jobs logs ID [--follow] · jobs cancel ID
 *   jobs kill ID [--force] [--reason R] · jobs extend ID --seconds N [--reason R]
 *   jobs results ID [--file FILE]
 *
 * Key: --key or WARDEN_API_KEY. Server: --url or WARDEN_URL (default http://localhost:3000).
 * Output: -o json|table|wide (a table on a terminal, one line of JSON when piped); errors are the
 * API's error JSON on stderr. Exit codes: EXIT in ./cli-common.ts (and docs/CLI.md).
 * IDs are passed to the server as given: it accepts unique prefixes of 6 or more characters.
 */
import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Job } from '../client';
import { ALL_STATUSES, isFinal, unknownStatusMessage } from '../server/domain/status';
import { COMMON_OPTIONS, CliError, connect, duration, EXIT, localTime, outputFormat, sleep, table, unwrap, usageError, type Conn, type Format } from './cli-common';

export { EXIT } from './cli-common';

const HELP = 'warden jobs --help';
const usage = (why: string) => usageError(why, HELP);

export const JOBS_USAGE = `usage: warden jobs <command> [options]
  submit --image IMG [--name N] [--class C] [--timeout S] [--idle-timeout S] [--grace S] [--ttl S]
         [--retries N] [--results-path /out] [--env K=V]… [--label K=V]… [--parent ID] [--user ID]
         [--wait | --attach] [-- command args…]
         --wait: report the id and each state change on stderr, exit with the job's outcome
         --attach: the same, streaming the job's output; Ctrl-C detaches (the job goes on)
  list [--status running,queued,…] [--user U] [--limit N] [--cursor C] [--watch]
  get ID
  logs ID [--follow]
  cancel ID
  kill ID [--force] [--reason R]
  extend ID --seconds N [--reason R] [--override-cap]
  results ID [--file FILE]       (the job's results tar; stdout when no --file)
IDs may be shortened to a unique prefix of 6 or more characters.
options for every command: --key KEY (or WARDEN_API_KEY), --url URL (or WARDEN_URL, default
http://localhost:3000), -o json|table|wide (default: table on a terminal, JSON when piped)
statuses: ${ALL_STATUSES.join(', ')}
exit codes: 0 ok, 1 refused by the server, 2 usage, 3 server unreachable; submit --wait exits
with the job's exit code, 124 timed out, 125 no exit code (start failed, lost), 130 cancelled
or detached with Ctrl-C, 137 killed`;

export const JOBS_OPTIONS = {
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
    attach: { type: 'boolean' },
  },
  list: { status: { type: 'string' }, user: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, watch: { type: 'boolean', short: 'w' } },
  get: {},
  logs: { follow: { type: 'boolean', short: 'f' } },
  cancel: {},
  kill: { force: { type: 'boolean' }, reason: { type: 'string' } },
  extend: { seconds: { type: 'string' }, reason: { type: 'string' }, 'override-cap': { type: 'boolean' } },
  results: { file: { type: 'string' } },
} as const;

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

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/** TIME LEFT: until the deadline while it runs; "suspended"; "-" when not running. */
function timeLeft(j: Job, now: number): string | null {
  if (j.status !== 'running' && j.status !== 'terminating') return null;
  if (j.timeoutSuspended) return 'suspended';
  if (!j.deadlineAt) return null;
  const ms = Date.parse(j.deadlineAt) - now;
  return ms >= 0 ? duration(ms) : `overdue ${duration(-ms)}`;
}

export function jobRows(jobs: Job[], now = Date.now()) {
  return jobs.map((j) => ({
    id: j.id,
    name: j.name,
    status: j.status,
    exit: j.exitCode,
    age: duration(now - Date.parse(j.queuedAt)),
    'time left': timeLeft(j, now),
    timeout: `${j.timeoutSeconds}s (${j.timeoutSource})`,
    class: j.class,
    node: j.node,
    image: j.image,
    queued: localTime(j.queuedAt),
    deadline: localTime(j.deadlineAt),
    reason: j.reason ?? j.waitReason,
  }));
}
const JOB_COLS: Record<Exclude<Format, 'json'>, string[]> = {
  table: ['id', 'name', 'status', 'exit', 'age', 'time left', 'reason'],
  wide: ['id', 'name', 'status', 'exit', 'age', 'time left', 'timeout', 'class', 'node', 'image', 'queued', 'deadline', 'reason'],
};

export function renderJobs(v: { jobs: Job[]; nextCursor?: string | null } | Job, format: Format): string {
  if (format === 'json') return JSON.stringify(v);
  const list = 'jobs' in v ? v.jobs : [v];
  const out = list.length ? table(jobRows(list), JOB_COLS[format]) : 'no jobs';
  return 'jobs' in v && v.nextCursor ? `${out}\nmore: --cursor ${v.nextCursor}` : out;
}

/** One state of a job as a user reads it on stderr while waiting. */
export function describeState(j: Job): string {
  switch (j.status) {
    case 'queued': {
      const why = j.waitReason?.replace(/^Waiting:\s*/, '');
      return `queued${j.queuePosition != null || why ? ` (${[j.queuePosition != null ? `#${j.queuePosition}` : null, why].filter(Boolean).join(': ')})` : ''}`;
    }
    case 'running':
      return `running${j.node ? ` on ${j.node}` : ''}${j.deadlineAt ? `, deadline ${localTime(j.deadlineAt)}` : ''}`;
    case 'terminating':
      return `terminating${j.reason ? ` (${j.reason})` : ''}`;
    case 'succeeded':
      return `succeeded${j.startedAt && j.finishedAt ? ` after ${duration(Date.parse(j.finishedAt) - Date.parse(j.startedAt))}` : ''}`;
    case 'failed':
      return `failed${j.exitCode != null && j.exitCode >= 0 ? ` with exit code ${j.exitCode}` : ''}${j.reason ? `: ${j.reason}` : ''}`;
    case 'timed_out':
      return `timed out after ${j.timeoutSeconds + j.extendedSeconds}s`;
    default:
      return `${j.status.replace('_', ' ')}${j.reason ? `: ${j.reason}` : ''}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

function int(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  // Sent as a number; the server's rules (and messages) decide what is allowed.
  const n = Number(v);
  if (String(v).trim() === '' || !Number.isFinite(n)) throw usage(`--${flag} must be a number (got "${String(v)}")`);
  return n;
}

function pairs(flag: string, vals: unknown): Record<string, string> | undefined {
  const list = vals as string[] | undefined;
  if (!list?.length) return undefined;
  const out: Record<string, string> = {};
  for (const v of list) {
    const i = v.indexOf('=');
    if (i <= 0) throw usage(`--${flag} takes KEY=VALUE (got "${v}")`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

async function getJob(c: Conn, id: string): Promise<Job> {
  return unwrap(await c.client.GET('/api/v1/jobs/{id}', { params: { path: { id } } }));
}

/**
 * Polls the job until it is final (0.5 s, backing off to 2 s), telling each change of state on
 * stderr as it is seen ("job 76ea… queued (#2: …)" → "running on node-a" → "timed out after 60s").
 */
async function watchUntilFinal(c: Conn, first: Job, say: boolean): Promise<Job> {
  let last = '';
  let j = first;
  for (let delay = 500; ; delay = Math.min(2000, delay * 1.5)) {
    const key = `${j.status}|${j.queuePosition}|${j.waitCode}|${j.node}`;
    if (say && key !== last) process.stderr.write(`warden: job ${j.id} ${describeState(j)}\n`);
    if (key !== last) delay = 500;
    last = key;
    if (isFinal(j.status)) return j;
    await sleep(delay);
    j = await getJob(c, j.id);
  }
}

/** Streams the job's output to stdout once it runs, until its container stops. */
async function followLogs(c: Conn, id: string): Promise<void> {
  for (let delay = 500; ; delay = Math.min(2000, delay * 1.5)) {
    const j = await getJob(c, id);
    if (j.status !== 'queued' && j.status !== 'starting') break;
    await sleep(delay);
  }
  const r = await c.client.GET('/api/v1/jobs/{id}/logs', { params: { path: { id }, query: { follow: 'true' } }, parseAs: 'stream' });
  const body = unwrap(r) as ReadableStream<Uint8Array> | null;
  if (!body) return;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
}

/** Ctrl-C while waiting: the job goes on; say how to come back, exit 130. */
function detachOnInterrupt(id: string): () => void {
  const onInt = () => {
    process.stderr.write(`\nwarden: detached; job ${id} goes on (it was not cancelled). Reattach: warden jobs logs ${id} --follow\n`);
    process.exit(EXIT.cancelled);
  };
  process.on('SIGINT', onInt);
  return () => process.off('SIGINT', onInt);
}

function statusList(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined;
  for (const x of s.split(',').map((t) => t.trim()).filter(Boolean)) if (!(ALL_STATUSES as readonly string[]).includes(x)) throw usage(unknownStatusMessage(x));
  return s;
}

async function list(c: Conn, v: Record<string, unknown>, format: Format): Promise<number> {
  const query = { status: statusList(v.status), user: v.user as string | undefined, limit: v.limit as string | undefined, cursor: v.cursor as string | undefined };
  const once = async () => unwrap(await c.client.GET('/api/v1/jobs', { params: { query: query as never } }));
  if (!v.watch) {
    console.log(renderJobs(await once(), format));
    return EXIT.ok;
  }
  return watchList(c, once, format);
}

/** Topics of GET /api/v1/events that can change a job list (not `node`, `sweeper`). */
export const changesJobs = (topics: string[]) => topics.some((t) => t === '*' || t === 'jobs' || t.startsWith('job:'));

/**
 * `list --watch`: reads the page when the server's event stream (GET /api/v1/events) says a job
 * changed — once on its `hello`, then once per batch of job events (events that arrive while a
 * read is under way are folded into one more read) — and prints it when it differs from what is
 * shown. No polling: between events the server is not asked. On a terminal the screen is redrawn,
 * and AGE / TIME LEFT tick every second from the page in hand (no request). A server without the
 * stream (or one that refuses it: 429, 503) is polled every 2 s instead, said once on stderr; a
 * stream that drops is opened again. Ctrl-C ends it (exit 0).
 */
async function watchList(c: Conn, once: () => Promise<{ jobs: Job[]; nextCursor: string | null }>, format: Format): Promise<number> {
  process.on('SIGINT', () => process.exit(EXIT.ok));
  const tty = !!process.stdout.isTTY;
  let page: Awaited<ReturnType<typeof once>> | null = null;
  let shown = '';
  const draw = () => {
    if (!page) return;
    const text = renderJobs(page, format);
    if (text === shown) return;
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${localTime(new Date().toISOString())}  warden jobs list --watch (Ctrl-C to stop)\n\n`);
    console.log(text);
    shown = text;
  };
  if (tty && format !== 'json') setInterval(draw, 1000).unref();

  // A read that fails (the key was revoked, the server went away) ends the command with its error.
  let fatal: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fatal = reject));
  // One read at a time; a change seen during a read asks for exactly one more.
  let reading: Promise<void> | null = null;
  let again = false;
  const refresh = (): Promise<void> => {
    if (reading) {
      again = true;
      return reading;
    }
    const read = async () => {
      try {
        do {
          again = false;
          page = await once();
          draw();
        } while (again);
      } finally {
        // In the same turn as the last `again` check: a change seen from here on starts a new read.
        reading = null;
      }
    };
    reading = read();
    reading.catch(fatal);
    return reading;
  };
  return Promise.race([failed, follow(c, refresh, () => reading)]);
}

/** Follows GET /api/v1/events for ever, calling refresh on `hello` and on each batch of job events. */
async function follow(c: Conn, refresh: () => Promise<void>, reading: () => Promise<void> | null): Promise<number> {
  const { EventSourceParserStream } = await import('eventsource-parser/stream');
  let warned = false;
  for (let failures = 0; ; ) {
    const r = await c.client.GET('/api/v1/events', { parseAs: 'stream' });
    if (!r.response.ok || !r.response.body) {
      // No stream from this server (older, full, or not listening): poll instead, say so once.
      if (r.response.status === 401 || r.response.status === 403) unwrap(r);
      const why = (r.error as { error?: { code?: string } } | undefined)?.error?.code;
      if (!warned) process.stderr.write(`warden: no event stream from this server (HTTP ${r.response.status}${why ? ` ${why}` : ''}); polling every 2 s\n`);
      warned = true;
      await r.response.body?.cancel().catch(() => {});
      await refresh();
      await sleep(2000);
      continue;
    }
    failures = 0;
    const events = r.response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    try {
      for await (const ev of events as unknown as AsyncIterable<{ event?: string; data: string }>) {
        if (ev.event === 'hello') void refresh().catch(() => {});
        else if (!ev.event || ev.event === 'message') {
          let topics: string[];
          try {
            topics = JSON.parse(ev.data) as string[];
          } catch {
            topics = ['*'];
          }
          if (changesJobs(topics)) void refresh().catch(() => {});
        }
      }
    } catch {
      /* the connection dropped: open it again */
    }
    await reading()?.catch(() => {});
    // The server ended the stream (restart, LISTEN reconnect): open it again, backing off if it keeps failing.
    failures++;
    await sleep(Math.min(10_000, 500 * 2 ** Math.min(failures, 5)));
  }
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(JOBS_USAGE);
    return EXIT.ok;
  }
  const opts = JOBS_OPTIONS[cmd as keyof typeof JOBS_OPTIONS];
  if (!opts) throw usage(`unknown command "jobs ${cmd}": use ${Object.keys(JOBS_OPTIONS).join(', ')}`);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { ...COMMON_OPTIONS, ...opts } as NonNullable<ParseArgsConfig['options']>, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const v = parsed.values as Record<string, unknown>;
  const pos = parsed.positionals;
  if (v.help) {
    console.log(JOBS_USAGE);
    return EXIT.ok;
  }
  // `results --output FILE` (before -o meant the output format) still names a file.
  if (cmd === 'results' && typeof v.output === 'string' && !['json', 'table', 'wide'].includes(v.output)) {
    v.file ??= v.output;
    delete v.output;
  }
  const format = outputFormat(v.output, v.table);
  const c = await connect(v, HELP);
  const one = (): string => {
    if (pos.length !== 1) throw usage(`jobs ${cmd} takes one job id${pos.length ? ` (got ${pos.length} arguments)` : ''}`);
    return pos[0]!;
  };
  const print = (j: Job | { jobs: Job[]; nextCursor: string | null }) => console.log(renderJobs(j, format));

  switch (cmd) {
    case 'submit': {
      if (!v.image) throw usage('jobs submit needs --image');
      if (v.wait && v.attach) throw usage('use --wait or --attach, not both');
      const body: Record<string, unknown> = {
        image: v.image,
        ...(pos.length ? { command: pos } : {}),
        name: v.name,
        class: v.class,
        timeoutSeconds: int('timeout', v.timeout),
        idleTimeoutSeconds: int('idle-timeout', v['idle-timeout']),
        gracePeriodSeconds: int('grace', v.grace),
        ttlSecondsAfterFinished: int('ttl', v.ttl),
        maxRetries: int('retries', v.retries),
        resultsPath: v['results-path'],
        env: pairs('env', v.env),
        labels: pairs('label', v.label),
        parentId: v.parent,
      };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      const job = unwrap(
        await c.client.POST('/api/v1/jobs', { params: { query: v.user ? { user: v.user as string } : {} }, body: body as { image: string } }),
      );
      if (!v.wait && !v.attach) {
        print(job);
        return EXIT.ok;
      }
      const stop = detachOnInterrupt(job.id);
      const logs = v.attach ? followLogs(c, job.id) : Promise.resolve();
      const done = await watchUntilFinal(c, job, true);
      // The log stream ends with the container; the job's row may say "final" a moment before.
      await logs;
      stop();
      if (!v.attach) print(done);
      else if (format === 'json') process.stderr.write(`${JSON.stringify(done)}\n`);
      return exitCodeFor(done);
    }
    case 'list':
      if (pos.length) throw usage('jobs list takes no arguments');
      return list(c, v, format);
    case 'get':
      print(await getJob(c, one()));
      return EXIT.ok;
    case 'logs': {
      const id = one();
      if (v.follow) await followLogs(c, id);
      else process.stdout.write(unwrap(await c.client.GET('/api/v1/jobs/{id}/logs', { params: { path: { id } }, parseAs: 'text' })) as string);
      return EXIT.ok;
    }
    case 'cancel':
      print(unwrap(await c.client.POST('/api/v1/jobs/{id}/cancel', { params: { path: { id: one() } } })));
      return EXIT.ok;
    case 'kill':
      print(unwrap(await c.client.POST('/api/v1/jobs/{id}/kill', { params: { path: { id: one() } }, body: { ...(v.force ? { force: true } : {}), ...(v.reason ? { reason: v.reason as string } : {}) } })));
      return EXIT.ok;
    case 'extend': {
      const id = one();
      const seconds = int('seconds', v.seconds);
      if (seconds === undefined) throw usage('jobs extend needs --seconds N');
      print(unwrap(await c.client.POST('/api/v1/jobs/{id}/extend', { params: { path: { id } }, body: { seconds, ...(v.reason ? { reason: v.reason as string } : {}), ...(v['override-cap'] ? { overrideCap: true } : {}) } })));
      return EXIT.ok;
    }
    case 'results': {
      const r = await c.client.GET('/api/v1/jobs/{id}/results', { params: { path: { id: one() } }, parseAs: 'arrayBuffer' });
      const buf = Buffer.from(unwrap(r) as ArrayBuffer);
      if (typeof v.file === 'string') {
        fs.writeFileSync(v.file, buf);
        console.log(JSON.stringify({ output: v.file, bytes: buf.length, truncated: r.response.headers.get('warden-results-truncated') === 'true' }));
      } else process.stdout.write(buf);
      return EXIT.ok;
    }
  }
  throw usage(`unknown command "jobs ${cmd}"`);
}

/** Runs a command, prints errors, returns the exit code. */
export async function runCli(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CliError) {
      console.error(e.message);
      return e.exit;
    }
    console.error(JSON.stringify({ error: { code: 'internal', message: (e as Error)?.message ?? String(e) } }));
    return EXIT.refused;
  }
}

export const runJobsCli = (argv: string[]) => runCli(() => run(argv));
