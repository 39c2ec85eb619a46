/**
 * `user key …` and `operator key …` commands of the CLI (bin/warden.ts), JSON out:
 *
 *   user key list --user U                           → {keys: [{id, prefix, createdAt, lastUsedAt, revokedAt, expiresAt}]}
 *   user key create --user U [--expires-at ISO]      → {id, prefix, …, apiKey}
 *   user key revoke --user U --key KEY_ID            → the revoked key
 *   operator key list --email E
 *   operator key create --email E [--expires-at ISO] (also `operator key --email E`, as before)
 *   operator key revoke --email E --key KEY_ID
 *
 * U is a user's name or id. Every change is audited with actor `cli`, like the server's.
 */
import type { Ctx } from '../server/context';
import type { Actor } from '../server/domain/actor';
import { AppError } from '../server/domain/errors';
import { createKey, keyToJson, listKeys, operatorIdByEmail, revokeKey, userIdByNameOrId, type KeyOwner } from '../server/domain/keys';

export const KEYS_USAGE = `  user key list --user <name|id>
  user key create --user <name|id> [--expires-at <ISO time>]
  user key revoke --user <name|id> --key <key id>
  operator key list --email <email>
  operator key create --email <email> [--expires-at <ISO time>]
  operator key revoke --email <email> --key <key id>`;

const usage = (m: string) => new AppError(400, 'usage', `${m}\nusage:\n${KEYS_USAGE}`);

/** Runs a key command, or returns undefined when argv is not one. */
export async function runKeyCommand(
  noun: string | undefined,
  verb: string | undefined,
  sub: string | undefined,
  flags: Record<string, string>,
  ctx: Ctx,
  actor: Actor,
): Promise<unknown> {
  if (verb !== 'key' || (noun !== 'user' && noun !== 'operator')) return undefined;
  const ownerFlag = noun === 'user' ? 'user' : 'email';
  const allowed = { list: [ownerFlag], create: [ownerFlag, 'expires-at'], revoke: [ownerFlag, 'key'] } as const;
  const cmd = sub ?? 'create';
  if (!(cmd in allowed)) throw usage(`unknown command "${noun} key ${cmd}"`);
  for (const k of Object.keys(flags)) if (!(allowed[cmd as keyof typeof allowed] as readonly string[]).includes(k)) throw usage(`unknown option --${k}`);
  const who = flags[ownerFlag];
  if (!who) throw usage(`--${ownerFlag} is required`);
  const owner: KeyOwner = noun === 'user' ? { kind: 'user', id: await userIdByNameOrId(ctx.db, who) } : { kind: 'operator', id: await operatorIdByEmail(ctx.db, who) };
  if (cmd === 'list') return { keys: (await listKeys(ctx, actor, owner)).map(keyToJson) };
  if (cmd === 'create') {
    const r = await createKey(ctx, actor, owner, flags['expires-at'] ? { expiresAt: flags['expires-at'] } : {});
    return { ...keyToJson(r.key), apiKey: r.apiKey };
  }
  if (!flags.key) throw usage('--key is required');
  return keyToJson(await revokeKey(ctx, actor, owner, flags.key));
}
