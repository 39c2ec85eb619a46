/**
 * What every HTTP command of the CLI shares (jobs, webhooks, nodes): exit codes, errors, the
 * typed client (client/), output formats and tables. No server imports: the CLI is a client of
 * a running Warden, bundled small (bin/warden.mjs) so it starts in a fraction of a second.
 */
import type { WardenClient } from '../client';

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
  /** submit --wait: the job was cancelled while queued; also Ctrl-C while waiting (128 + SIGINT). */
  cancelled: 130,
  /** submit --wait: the job was killed (128 + SIGKILL). */
  killed: 137,
} as const;

export class CliError extends Error {
  constructor(
    readonly exit: number,
    message: string,
  ) {
    super(message);
  }
}

/** Usage errors print like every other error: the API's error JSON, on stderr. */
export const usageError = (why: string, help = 'warden help') =>
  new CliError(EXIT.usage, JSON.stringify({ error: { code: 'usage', message: `${why} (${help})` } }));

export type Format = 'json' | 'table' | 'wide';
export const FORMATS: readonly Format[] = ['json', 'table', 'wide'];

/** `-o json|table|wide`; `--table` is the older spelling of `-o table`. Default: a table on a terminal, JSON when piped. */
export function outputFormat(o: unknown, table: unknown, isTty = !!process.stdout.isTTY): Format {
  if (o !== undefined) {
    if (!FORMATS.includes(o as Format)) throw usageError(`unknown output format ${String(o)}: use ${FORMATS.join(', ')}`, 'warden help');
    return o as Format;
  }
  if (table) return 'table';
  return isTty ? 'table' : 'json';
}

/** The common options of every HTTP command. */
export const COMMON_OPTIONS = {
  key: { type: 'string' },
  url: { type: 'string' },
  output: { type: 'string', short: 'o' },
  table: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface Conn {
  client: WardenClient;
  base: string;
}

/** env and fetch default to the process's; tests answer with the route handlers in-process. */
export interface ConnectOptions {
  env?: NodeJS.ProcessEnv;
  fetchImpl?: (req: Request) => Promise<Response>;
}

/**
 * The typed client for this command's key and server. Loaded here, on first use, not at start-up:
 * `--help`, usage errors and completion load no HTTP code at all (bin/warden.mjs bundles it apart).
 */
export async function connect(v: { key?: unknown; url?: unknown }, help: string, o: ConnectOptions = {}): Promise<Conn> {
  const env = o.env ?? process.env;
  const key = (v.key as string | undefined) ?? env.WARDEN_API_KEY;
  if (!key) throw usageError('no API key: pass --key or set WARDEN_API_KEY', help);
  const base = (v.url as string | undefined) ?? env.WARDEN_URL ?? 'http://localhost:3000';
  try {
    new URL(base);
  } catch {
    throw usageError(`--url / WARDEN_URL is not a URL: "${base}"`, help);
  }
  const { createWardenClient } = await import('../client');
  const client = createWardenClient({ baseUrl: base, key, fetch: (req: Request) => guardedFetch(base, req, o.fetchImpl ?? fetch) });
  return { client, base };
}

/** A failed connection is exit 3 with a sentence, not a stack. */
async function guardedFetch(base: string, req: Request, fetchImpl: (req: Request) => Promise<Response>): Promise<Response> {
  try {
    return await fetchImpl(req);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(EXIT.unreachable, JSON.stringify({ error: { code: 'unreachable', message: `No Warden answered at ${base}: ${cause?.code ?? cause?.message ?? (e as Error).message}` } }));
  }
}

/**
 * The data of an openapi-fetch answer, or a CliError carrying the server's error JSON (exit 1).
 * A body that is not the API's error shape (a proxy's HTML) is wrapped in it.
 */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok) return r.data as T;
  const e = r.error;
  if (e && typeof e === 'object' && 'error' in e) throw new CliError(EXIT.refused, JSON.stringify(e));
  const text = typeof e === 'string' ? e : '';
  throw new CliError(EXIT.refused, JSON.stringify({ error: { code: `http_${r.response.status}`, message: text.slice(0, 500) || r.response.statusText } }));
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/**
 * Characters a terminal acts on rather than prints: C0 and C1 controls (ESC starts every escape
 * sequence; CR and BS overwrite what was printed), DEL, and the Unicode bidi overrides and
 * zero-width marks that make text read differently from what it is. A job name is the user's
 * text, so a table cell shows none of them: they are stripped, except tabs and newlines, which
 * become a space so a name's words stay apart.
 */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
export function cleanCell(v: unknown): string {
  if (v == null || v === '') return '-';
  return String(v).replace(/[\t\n\r]+/g, ' ').replace(CONTROL, '');
}

const MAX_CELL = 60;
export function table(rows: Record<string, unknown>[], cols: string[]): string {
  const cells = rows.map((r) => cols.map((c) => {
    const s = cleanCell(r[c]);
    return s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s;
  }));
  const head = cols.map((c) => c.toUpperCase());
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/** 42s, 5m12s, 3h4m, 2d5h: the two largest units, as kubectl shows ages. */
export function duration(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return h ? `${d}d${h}h` : `${d}d`;
  if (h) return m ? `${h}h${m}m` : `${h}h`;
  if (m) return s ? `${m}m${s}s` : `${m}m`;
  return `${s}s`;
}

/** 2026-12-03 19:04:05 CET: local time (TZ) with its zone, so a table read later says when. */
export function localTime(iso: string | null | undefined, tz?: string): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
