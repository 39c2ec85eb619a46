/**
 * The bootstrap commands of the CLI (`warden user …`, `warden operator …`), which talk to the
 * database directly; prints JSON. Loaded by bin/warden.ts only for these commands, so the HTTP
 * commands (jobs, webhooks, nodes) never load the server.
 *
 *   user create --name N --plan P                        → {id, name, plan, apiKey}
 *   operator create --email E --role R [--password P]    → {id, email, role, password?}
 *   operator key --email E                               → {apiKey}
 *   user key list|create|revoke …, operator key list|create|revoke …  (bin/cli-keys.ts)
 *
 * Uses the same settings as the server. With the embedded database it connects to the server
 * `npm start` started, or starts the embedded server itself for the duration of the command.
 */
import { DbClock } from '../server/clock';
import { config, StartupError } from '../server/config';
import type { Ctx } from '../server/context';
import { bootDatabase, connect } from '../server/db/client';
import type { Actor } from '../server/domain/actor';
import { AppError } from '../server/domain/errors';
import { createOperator, createOperatorKey, operatorToJson } from '../server/domain/operators';
import { databaseNow, ensureInstallation } from '../server/domain/installation';
import { seedDefaultPlans } from '../server/domain/plans';
import { createUser, userToJson } from '../server/domain/users';
import { KEYS_USAGE, runKeyCommand } from './cli-keys';

export const ADMIN_USAGE = `  user create --name <name> --plan <plan>
  operator create --email <email> --role viewer|operator|admin [--password <password>]
  operator key --email <email>
${KEYS_USAGE}`;
const USAGE = `usage: warden <command>\n${ADMIN_USAGE}`;

const CLI: Actor = { kind: 'system', name: 'cli' };

function parseFlags(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw new AppError(400, 'usage', `unexpected argument "${a}"\n${USAGE}`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new AppError(400, 'usage', `${a} needs a value\n${USAGE}`);
      out[a.slice(2)] = v;
      i++;
    }
  }
  return out;
}

function only(flags: Record<string, string>, allowed: string[]) {
  for (const k of Object.keys(flags)) if (!allowed.includes(k)) throw new AppError(400, 'usage', `unknown option --${k}\n${USAGE}`);
}

async function run(argv: string[], ctx: Ctx): Promise<unknown> {
  const [noun, verb, ...rest] = argv;
  if (verb === 'key' && rest[0] && !rest[0].startsWith('--')) {
    const [sub, ...more] = rest;
    const out = await runKeyCommand(noun, verb, sub, parseFlags(more), ctx, CLI);
    if (out !== undefined) return out;
    throw new AppError(400, 'usage', USAGE);
  }
  const flags = parseFlags(rest);
  if (noun === 'user' && verb === 'create') {
    only(flags, ['name', 'plan']);
    const r = await createUser(ctx, CLI, { name: flags.name, plan: flags.plan });
    const u = userToJson(r.user, r.plan);
    return { id: u.id, name: u.name, plan: u.plan, apiKey: r.apiKey };
  }
  if (noun === 'operator' && verb === 'create') {
    only(flags, ['email', 'role', 'password']);
    const r = await createOperator(ctx, CLI, { email: flags.email, role: flags.role, password: flags.password });
    return { ...operatorToJson(r.operator), ...(r.password ? { password: r.password } : {}) };
  }
  if (noun === 'operator' && verb === 'key') {
    only(flags, ['email', 'expires-at']);
    if (!flags.email) throw new AppError(400, 'usage', `--email is required\n${USAGE}`);
    const r = await createOperatorKey(ctx, CLI, flags.email, flags['expires-at'] ? { expiresAt: flags['expires-at'] } : {});
    return { apiKey: r.apiKey, id: r.id, prefix: r.prefix, expiresAt: r.expiresAt };
  }
  throw new AppError(400, 'usage', USAGE);
}

/** Runs a bootstrap command; returns the exit code. */
export async function runAdmin(argv: string[]): Promise<number> {
  try {
    config();
  } catch (e) {
    console.error(JSON.stringify({ error: { code: 'invalid_settings', message: (e as Error).message } }));
    return 2;
  }
  let boot;
  try {
    boot = await bootDatabase();
  } catch (e) {
    const setting = e instanceof StartupError ? e.setting : undefined;
    console.error(JSON.stringify({ error: { code: 'startup', message: (e as Error).message, ...(setting ? { field: setting } : {}) } }));
    return 1;
  }
  const database = connect(boot.url, { max: 2 });
  try {
    await seedDefaultPlans(database.db);
    const clock = await DbClock.start(() => databaseNow(database.db));
    const ctx: Ctx = { db: database.db, clock, node: config().WARDEN_NODE_ID ?? 'cli', installation: await ensureInstallation(database.db), docker: null };
    const out = await run(argv, ctx);
    // One line, so `npm run warden -- … | tail -n1` is parseable despite npm's banner.
    console.log(JSON.stringify(out));
    return 0;
  } catch (e) {
    if (e instanceof AppError) {
      console.error(JSON.stringify(e.toJSON()));
      return e.code === 'usage' ? 2 : 1;
    }
    console.error(JSON.stringify({ error: { code: 'internal', message: (e as Error).message } }));
    return 1;
  } finally {
    await database.close();
    await boot.stopEmbedded();
  }
}
