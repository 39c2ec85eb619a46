/**
 * `warden nodes …`: the worker nodes of a running Warden, through the typed client (client/), as
 * `warden jobs` (an operator key; viewers may list).
 *
 *   nodes list                                   GET /api/v1/nodes
 *   nodes drain ID --reason R [--deadline S]     POST /api/v1/nodes/ID/drain
 *   nodes resume ID [--reason R]                 POST /api/v1/nodes/ID/resume
 *
 * Key: --key or WARDEN_API_KEY. Server: --url or WARDEN_URL (default http://localhost:3000).
 * Output: -o json|table|wide (a table on a terminal, one line of JSON when piped); errors as the
 * API's error JSON on stderr. Exit codes as `jobs`: 0 ok, 1 refused by the server, 2 usage, 3 unreachable.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { components } from '../client';
import { CliError, COMMON_OPTIONS, connect, duration, EXIT, localTime, outputFormat, table, unwrap, usageError, type ConnectOptions, type Format } from './cli-common';

type NodeJson = components['schemas']['Node'];

const HELP = 'warden nodes --help';
const usage = (why: string) => usageError(why, HELP);

export const NODES_USAGE = `usage: warden nodes <command> [options]
  list                                   every node: state, capacity, allocated, running jobs
  drain ID --reason R [--deadline S]     take no new work; with --deadline, kill what still runs after S seconds
  resume ID [--reason R]                 take work again
options for every command: --key KEY (or WARDEN_API_KEY), --url URL (or WARDEN_URL, default
http://localhost:3000), -o json|table|wide (default: table on a terminal, JSON when piped)
exit codes: 0 ok, 1 refused by the server, 2 usage, 3 server unreachable`;

/** Subcommands and their options (parsing and shell completion, bin/completion.ts). */
export const NODES_OPTIONS = {
  list: {},
  drain: { reason: { type: 'string' }, deadline: { type: 'string' } },
  resume: { reason: { type: 'string' } },
} as const;

const cap = (used: number, total: number | null, unit = '') => `${Math.round(used * 100) / 100}${unit}/${total == null ? '∞' : `${total}${unit}`}`;

export function nodeRows(nodes: NodeJson[], now = Date.now()) {
  return nodes.map((n) => ({
    id: n.id,
    name: n.name,
    state: n.state,
    running: n.running,
    cpus: cap(n.allocated.cpus, n.capacity.cpus),
    memory: cap(n.allocated.memoryMb, n.capacity.memoryMb, 'M'),
    jobs: cap(n.allocated.jobs, n.capacity.maxJobs),
    labels: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(','),
    drain: n.drain ? `${n.drain.reason}${n.drain.deadlineAt ? ` (deadline ${localTime(n.drain.deadlineAt)})` : ''}` : null,
    heartbeat: `${duration(now - Date.parse(n.heartbeatAt))} ago`,
    docker: n.dockerOk ? 'ok' : (n.dockerError ?? 'unreachable'),
    version: n.version,
    started: localTime(n.startedAt),
  }));
}
const NODE_COLS: Record<Exclude<Format, 'json'>, string[]> = {
  table: ['id', 'name', 'state', 'running', 'cpus', 'memory', 'jobs', 'labels', 'drain'],
  wide: ['id', 'name', 'state', 'running', 'cpus', 'memory', 'jobs', 'labels', 'drain', 'heartbeat', 'docker', 'version', 'started'],
};

export function renderNodes(v: { nodes: NodeJson[] } | NodeJson, format: Format): string {
  if (format === 'json') return JSON.stringify(v);
  const list = 'nodes' in v ? v.nodes : [v];
  return list.length ? table(nodeRows(list), NODE_COLS[format]) : 'no nodes';
}

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };
export interface NodesCliOptions extends ConnectOptions {
  out?: Out;
  /** Is stdout a terminal (the default format: table, else JSON). */
  tty?: boolean;
}

async function run(argv: string[], o: NodesCliOptions, out: Out): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    out.stdout(NODES_USAGE);
    return EXIT.ok;
  }
  const opts = NODES_OPTIONS[cmd as keyof typeof NODES_OPTIONS];
  if (!opts) throw usage(`unknown command "nodes ${cmd}": use ${Object.keys(NODES_OPTIONS).join(', ')}`);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { ...COMMON_OPTIONS, ...opts } as NonNullable<ParseArgsConfig['options']>, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const { values: v, positionals: pos } = parsed;
  if (v.help) {
    out.stdout(NODES_USAGE);
    return EXIT.ok;
  }
  const format = outputFormat(v.output, v.table, o.tty ?? !!process.stdout.isTTY);
  const c = await connect(v, HELP, o);
  if (cmd === 'list') {
    if (pos.length) throw usage(`nodes list takes no arguments (got "${pos[0]}")`);
    out.stdout(renderNodes(unwrap(await c.client.GET('/api/v1/nodes')), format));
    return EXIT.ok;
  }
  if (pos.length !== 1) throw usage(`nodes ${cmd} takes one node id (nodes list shows them)${pos.length ? `, got ${pos.length} arguments` : ''}`);
  const id = pos[0]!;
  const reason = v.reason as string | undefined;
  let node: NodeJson;
  if (cmd === 'drain') {
    if (!reason) throw usage('nodes drain needs --reason (it is audited)');
    const deadline = v.deadline as string | undefined;
    if (deadline !== undefined && (!/^\d+$/.test(deadline) || !Number.isSafeInteger(Number(deadline)))) throw usage(`--deadline takes whole seconds (got "${deadline}")`);
    node = unwrap(await c.client.POST('/api/v1/nodes/{id}/drain', { params: { path: { id } }, body: { reason, ...(deadline !== undefined ? { deadlineSeconds: Number(deadline) } : {}) } }));
  } else {
    node = unwrap(await c.client.POST('/api/v1/nodes/{id}/resume', { params: { path: { id } }, body: reason ? { reason } : {} }));
  }
  out.stdout(renderNodes(node, format));
  if (cmd === 'drain' && node.running > 0) {
    const one = node.running === 1;
    out.stderr(`${node.running} job${one ? '' : 's'} keep${one ? 's' : ''} running on ${node.name}${node.drain?.deadlineAt ? ` until ${localTime(node.drain.deadlineAt)}` : ' to their own end'}`);
  }
  return EXIT.ok;
}

/** Runs one `nodes` command; returns the exit code (errors printed on stderr, as every command). */
export async function runNodesCli(argv: string[], o: NodesCliOptions = {}): Promise<number> {
  const out = o.out ?? { stdout: (s: string) => console.log(s), stderr: (s: string) => console.error(s) };
  try {
    return await run(argv, o, out);
  } catch (e) {
    if (e instanceof CliError) {
      out.stderr(e.message);
      return e.exit;
    }
    out.stderr(JSON.stringify({ error: { code: 'internal', message: (e as Error)?.message ?? String(e) } }));
    return EXIT.refused;
  }
}
