/**
 * `npm run warden -- nodes …`: the worker nodes of a running Warden, over its HTTP API (an
 * operator key; viewers may list).
 *
 *   nodes list                                   GET /api/v1/nodes
 *   nodes drain ID --reason R [--deadline S]     POST /api/v1/nodes/ID/drain
 *   nodes resume ID [--reason R]                 POST /api/v1/nodes/ID/resume
 *
 * Key: --key or WARDEN_API_KEY. Server: --url or WARDEN_URL (default http://localhost:3000).
 * Output: one line of JSON on stdout, or a table with `-o table`; errors as the API's error JSON
 * on stderr. Exit codes as `jobs`: 0 ok, 1 refused by the server, 2 usage, 3 unreachable.
 */
import { parseArgs } from 'node:util';

const USAGE = `usage: npm run warden -- nodes <command> [options]
  list                                   every node: state, capacity, allocated, running jobs
  drain ID --reason R [--deadline S]     take no new work; with --deadline, kill what still runs after S seconds
  resume ID [--reason R]                 take work again
options: --key KEY (or WARDEN_API_KEY), --url URL (or WARDEN_URL, default http://localhost:3000),
-o json|table|wide (default json; wide is table)
exit codes: 0 ok, 1 refused by the server, 2 usage, 3 server unreachable`;

const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

/** Subcommands and their options (shell completion, bin/completion.ts). */
export const NODES_OPTIONS = {
  list: {},
  drain: { reason: { type: 'string' }, deadline: { type: 'string' } },
  resume: { reason: { type: 'string' } },
} as const;

interface NodeJson {
  id: string;
  name: string;
  state: string;
  heartbeatAt: string;
  labels: Record<string, string>;
  capacity: { cpus: number | null; memoryMb: number | null; maxJobs: number | null };
  allocated: { cpus: number; memoryMb: number; jobs: number };
  running: number;
  drain: { reason: string; deadlineAt: string | null } | null;
}

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };
const defaultOut: Out = { stdout: (s) => console.log(s), stderr: (s) => console.error(s) };

const fail = (code: string, message: string) => JSON.stringify({ error: { code, message } });

const cap = (used: number, total: number | null, unit = '') => `${Math.round(used * 100) / 100}${unit}/${total == null ? '∞' : `${total}${unit}`}`;

function table(nodes: NodeJson[]): string {
  const rows = nodes.map((n) => ({
    id: n.id,
    name: n.name,
    state: n.state,
    running: String(n.running),
    cpus: cap(n.allocated.cpus, n.capacity.cpus),
    memory: cap(n.allocated.memoryMb, n.capacity.memoryMb, 'M'),
    jobs: cap(n.allocated.jobs, n.capacity.maxJobs),
    labels: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    drain: n.drain ? `${n.drain.reason}${n.drain.deadlineAt ? ` (deadline ${n.drain.deadlineAt.slice(0, 19).replace('T', ' ')})` : ''}` : '-',
  }));
  const cols = ['id', 'name', 'state', 'running', 'cpus', 'memory', 'jobs', 'labels', 'drain'] as const;
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(w[i]!)).join('  ').trimEnd();
  return rows.length === 0 ? 'no nodes' : [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => r[c])))].join('\n');
}

/**
 * Runs one `nodes` command; returns the exit code. `fetchImpl` lets tests answer with the real
 * route handlers in-process.
 */
export async function runNodesCli(argv: string[], o: { fetchImpl?: typeof fetch; env?: NodeJS.ProcessEnv; out?: Out } = {}): Promise<number> {
  const out = o.out ?? defaultOut;
  const env = o.env ?? process.env;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { key: { type: 'string' }, url: { type: 'string' }, output: { type: 'string', short: 'o' }, reason: { type: 'string' }, deadline: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    out.stderr(fail('usage', `${(e as Error).message}\n${USAGE}`));
    return EXIT.usage;
  }
  const { values: v, positionals: pos } = parsed;
  const [cmd, id, ...extra] = pos;
  if (v.help || !cmd || cmd === 'help') {
    out.stdout(USAGE);
    return cmd || v.help ? EXIT.ok : EXIT.usage;
  }
  const usage = (m: string) => {
    out.stderr(fail('usage', `${m}\n${USAGE}`));
    return EXIT.usage;
  };
  if (extra.length > 0) return usage(`unexpected argument "${extra[0]}"`);
  const format = v.output === 'wide' ? 'table' : (v.output ?? 'json');
  if (format !== 'json' && format !== 'table') return usage(`-o takes json, table or wide (got "${format}")`);
  const key = v.key ?? env.WARDEN_API_KEY;
  if (!key) return usage('an API key is needed: --key or WARDEN_API_KEY');
  const base = v.url ?? env.WARDEN_URL ?? 'http://localhost:3000';

  let method = 'GET';
  let path = '/api/v1/nodes';
  let body: unknown;
  if (cmd === 'list') {
    if (id) return usage(`unexpected argument "${id}"`);
    if (v.reason !== undefined || v.deadline !== undefined) return usage('list takes no --reason or --deadline');
  } else if (cmd === 'drain' || cmd === 'resume') {
    if (!id) return usage(`nodes ${cmd} needs a node id (nodes list shows them)`);
    method = 'POST';
    path = `/api/v1/nodes/${encodeURIComponent(id)}/${cmd}`;
    if (cmd === 'drain') {
      if (!v.reason) return usage('nodes drain needs --reason (it is audited)');
      let deadlineSeconds: number | undefined;
      if (v.deadline !== undefined) {
        deadlineSeconds = Number(v.deadline);
        if (!/^\d+$/.test(v.deadline) || !Number.isSafeInteger(deadlineSeconds)) return usage(`--deadline takes whole seconds (got "${v.deadline}")`);
      }
      body = { reason: v.reason, ...(deadlineSeconds !== undefined ? { deadlineSeconds } : {}) };
    } else {
      if (v.deadline !== undefined) return usage('resume takes no --deadline');
      body = v.reason ? { reason: v.reason } : {};
    }
  } else return usage(`unknown command "nodes ${cmd}"`);

  let res: Response;
  try {
    res = await (o.fetchImpl ?? fetch)(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    out.stderr(fail('unreachable', `No Warden answered at ${base}: ${cause?.code ?? cause?.message ?? (e as Error).message}`));
    return EXIT.unreachable;
  }
  const text = await res.text();
  if (!res.ok) {
    let shown = text;
    try {
      JSON.parse(text);
    } catch {
      shown = fail(`http_${res.status}`, text.slice(0, 500) || res.statusText);
    }
    out.stderr(shown);
    return EXIT.refused;
  }
  const data = JSON.parse(text) as { nodes: NodeJson[] } | NodeJson;
  if (format === 'json') out.stdout(JSON.stringify(data));
  else out.stdout(table('nodes' in data ? data.nodes : [data]));
  if (cmd === 'drain' && !('nodes' in data) && data.running > 0) {
    out.stderr(`${data.running} job${data.running === 1 ? '' : 's'} keep${data.running === 1 ? 's' : ''} running on ${data.name}${data.drain?.deadlineAt ? ` until ${data.drain.deadlineAt}` : ' to their own end'}`);
  }
  return EXIT.ok;
}
