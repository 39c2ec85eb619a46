/**
 * `warden webhooks …`: subscriptions to job events and their deliveries, over the typed client.
 *
 *   webhooks list
 *   webhooks create URL [--event E]… [--secret S] [--user ID]   (the secret is shown once)
 *   webhooks delete ID
 *   webhooks deliveries ID [--status pending|delivered|failed] [--limit N] [--cursor C]
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { components } from '../client';
import { WEBHOOK_EVENTS } from '../server/domain/webhook-events';
import { COMMON_OPTIONS, connect, duration, EXIT, localTime, outputFormat, table, unwrap, usageError, type Format } from './cli-common';

type Webhook = components['schemas']['Webhook'];
type Delivery = components['schemas']['WebhookDelivery'];

const HELP = 'warden webhooks --help';
const usage = (why: string) => usageError(why, HELP);
const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'];

export const WEBHOOKS_USAGE = `usage: warden webhooks <command> [options]
  list
  create URL [--event E]… [--secret S] [--user ID]   (the secret is shown once; --url is the server's)
  delete ID
  deliveries ID [--status ${DELIVERY_STATUSES.join('|')}] [--limit N] [--cursor C]
events: ${WEBHOOK_EVENTS.join(', ')} (no --event: all of them)
options for every command: --key KEY, --url URL, -o json|table|wide (as for warden jobs)`;

export const WEBHOOKS_OPTIONS = {
  list: {},
  create: { event: { type: 'string', multiple: true }, secret: { type: 'string' }, user: { type: 'string' } },
  delete: {},
  deliveries: { status: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
} as const;

function hookRows(hooks: Webhook[]) {
  return hooks.map((w) => ({ id: w.id, url: w.url, events: w.events.length === WEBHOOK_EVENTS.length ? 'all' : w.events.join(','), user: w.userId ?? 'every user', 'created by': w.createdBy, created: localTime(w.createdAt) }));
}
const HOOK_COLS = { table: ['id', 'url', 'events', 'user'], wide: ['id', 'url', 'events', 'user', 'created by', 'created'] };

function deliveryRows(ds: Delivery[], now = Date.now()) {
  return ds.map((d) => ({
    id: d.id,
    event: d.event,
    job: d.jobId,
    status: d.status,
    attempts: d.attempts,
    'last status': d.lastStatus,
    'last error': d.lastError,
    age: duration(now - Date.parse(d.createdAt)),
    next: d.status === 'pending' ? localTime(d.nextAttemptAt) : null,
    delivered: localTime(d.deliveredAt),
  }));
}
const DELIVERY_COLS = { table: ['id', 'event', 'job', 'status', 'attempts', 'last status', 'age'], wide: ['id', 'event', 'job', 'status', 'attempts', 'last status', 'last error', 'age', 'next', 'delivered'] };

const render = (format: Format, json: unknown, rows: Record<string, unknown>[], cols: { table: string[]; wide: string[] }, empty: string) =>
  format === 'json' ? JSON.stringify(json) : rows.length ? table(rows, cols[format]) : empty;

export async function runWebhooks(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(WEBHOOKS_USAGE);
    return EXIT.ok;
  }
  const opts = WEBHOOKS_OPTIONS[cmd as keyof typeof WEBHOOKS_OPTIONS];
  if (!opts) throw usage(`unknown command "webhooks ${cmd}": use ${Object.keys(WEBHOOKS_OPTIONS).join(', ')}`);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { ...COMMON_OPTIONS, ...opts } as NonNullable<ParseArgsConfig['options']>, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const { values: v, positionals: pos } = parsed;
  if (v.help) {
    console.log(WEBHOOKS_USAGE);
    return EXIT.ok;
  }
  const format = outputFormat(v.output, v.table);
  const c = await connect(v, HELP);
  const one = (): string => {
    if (pos.length !== 1) throw usage(`webhooks ${cmd} takes one subscription id`);
    return pos[0]!;
  };
  switch (cmd) {
    case 'list': {
      const r = unwrap(await c.client.GET('/api/v1/webhooks'));
      console.log(render(format, r, hookRows(r.webhooks), HOOK_COLS, 'no webhooks'));
      return EXIT.ok;
    }
    case 'create': {
      // The receiver's URL is the argument: --url names the Warden server, as for every command.
      if (pos.length !== 1) throw usage('webhooks create takes the receiver\'s URL: warden webhooks create https://… [--event E]…');
      const events = v.event as string[] | undefined;
      for (const e of events ?? []) if (!(WEBHOOK_EVENTS as readonly string[]).includes(e)) throw usage(`unknown event ${e}: use ${WEBHOOK_EVENTS.join(', ')}`);
      const body = { url: pos[0]!, ...(events?.length ? { events: events as Webhook['events'] } : {}), ...(v.secret ? { secret: v.secret as string } : {}), ...(v.user ? { userId: v.user as string } : {}) };
      const w = unwrap(await c.client.POST('/api/v1/webhooks', { body }));
      if (format === 'json') console.log(JSON.stringify(w));
      else console.log(`${table(hookRows([w]), HOOK_COLS[format])}\nsecret (shown once; verify Warden-Signature with it): ${w.secret}`);
      return EXIT.ok;
    }
    case 'delete': {
      const id = one();
      unwrap(await c.client.DELETE('/api/v1/webhooks/{id}', { params: { path: { id } } }));
      console.log(format === 'json' ? JSON.stringify({ deleted: id }) : `deleted webhook ${id}`);
      return EXIT.ok;
    }
    case 'deliveries': {
      const id = one();
      if (v.status !== undefined && !DELIVERY_STATUSES.includes(v.status as string)) throw usage(`unknown status ${String(v.status)}: use ${DELIVERY_STATUSES.join(', ')}`);
      const query = { status: v.status, limit: v.limit, cursor: v.cursor } as never;
      const r = unwrap(await c.client.GET('/api/v1/webhooks/{id}/deliveries', { params: { path: { id }, query } }));
      console.log(render(format, r, deliveryRows(r.deliveries), DELIVERY_COLS, 'no deliveries'));
      if (format !== 'json' && r.nextCursor) console.log(`more: --cursor ${r.nextCursor}`);
      return EXIT.ok;
    }
  }
  throw usage(`unknown command "webhooks ${cmd}"`);
}
