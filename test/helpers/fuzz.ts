import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import type { Db } from '../../server/db/client';

/**
 * Generators of hostile input for the fuzz tests (test/fuzz.*.test.ts) and bench/fuzz.ts:
 * wrong types, boundary and huge numbers, long and odd unicode strings, deep JSON,
 * `__proto__` / `constructor` keys, duplicate keys, malformed and oversized bodies. Bodies are
 * generated as JSON *text*, so duplicate keys and `__proto__` reach the server exactly as a
 * client would send them (a JS object literal cannot carry either).
 */

/** The fixed seed CI runs with; bench/fuzz.ts uses random seeds and prints them. */
export const FUZZ_SEED = 20261201;

const BOUNDARY_NUMBERS = [
  0, -0, 1, -1, 0.5, -0.5, 1e-7, 8, 255, 256, 3600, 3601, 65535, 65536, 86400, 2_147_483_647, 2_147_483_648, -2_147_483_648, -2_147_483_649,
  2 ** 53 - 1, 2 ** 53 + 1, -(2 ** 53), 1e21, 1e308, -1e308, Number.MIN_VALUE, Number.MAX_VALUE, 31_536_000, 31_536_001,
];

/** Strings that tend to break things: control characters, RTL and zero-width marks, emoji, lone surrogates, SQL and path tricks. */
const ODD_STRINGS = [
  '', ' ', '\u0000', '\t', '\n\r', '\u007f', '\u202e', '\u200b', '\ufeff', '\ud800', '\udfff', '🙂', '👩‍👩‍👧‍👦', 'é', 'ﬃ', 'İ',
  "'; drop table jobs; --", '%00', '%', '_', '\\', '../../etc/passwd', '/\t/evil.example', '__proto__', 'constructor', 'prototype',
  'null', 'true', '1e309', 'NaN', '-1', '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'warden.job', 'alpine',
];

const unicode = fc.string({ unit: 'binary', maxLength: 40 });
const longString = fc.integer({ min: 200, max: 5_000 }).chain((n) => fc.constantFrom('x', 'é', '🙂', '\u0000').map((c) => c.repeat(n)));

/** A JSON-encodable primitive of the wrong kind for almost any field. */
export const junkPrimitive: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...BOUNDARY_NUMBERS) },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 3, arbitrary: unicode },
  { weight: 1, arbitrary: longString },
  { weight: 1, arbitrary: fc.constantFrom(true, false, null) },
);

/** Key names: the route's own fields (so values land where they hurt), the prototype keys, and noise. */
export function keyText(fields: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fields.length ? fc.constantFrom(...fields) : fc.constant('x') },
    { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty') },
    { weight: 1, arbitrary: unicode },
  );
}

/** JSON text of a value up to `depth` deep; objects may repeat keys. */
export function valueText(fields: readonly string[], depth = 3): fc.Arbitrary<string> {
  const { v } = fc.letrec<{ v: string; arr: string; obj: string }>((tie) => ({
    v: fc.oneof({ depthSize: 'small', maxDepth: depth, withCrossShrink: true }, junkPrimitive.map((x) => JSON.stringify(x)), tie('arr'), tie('obj')),
    arr: fc.array(tie('v'), { maxLength: 5 }).map((xs) => `[${xs.join(',')}]`),
    obj: objectText(fields, tie('v')),
  }));
  return v;
}

function objectText(fields: readonly string[], value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.array(fc.tuple(keyText(fields), value), { maxLength: 8 }).map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
}

/** An object body with the route's fields set to junk (duplicates and prototype keys included). */
export function objectBody(fields: readonly string[]): fc.Arbitrary<string> {
  return objectText(fields, valueText(fields, 2));
}

/** Bodies that are not a JSON object at all, or not JSON, or too deep, or too large. */
export function brokenBody(limitBytes: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('', ' ', 'null', '[]', '"x"', '42', 'true', '{', '{"a":', '{"a":1}}', "{'a':1}", '{"a":NaN}', '{"a":Infinity}', '{a:1}', '\ufeff{}', '{"a":1,}', '/* */{}', '{"a":1}\u0000'),
    fc.integer({ min: 1_000, max: 200_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
    fc.integer({ min: 1_000, max: 50_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
    fc.constant(null).map(() => JSON.stringify({ pad: 'x'.repeat(limitBytes + 1) })),
    valueText([], 2).filter((t) => !t.startsWith('{')),
  );
}

/** Authorization header values that are not a valid key (header-safe characters only, as fetch requires). */
export const badAuthorization: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null),
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', 'bearer wd_u_', 'Bearer wd_o_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', `Bearer ${'x'.repeat(5000)}`, 'Bearer a b c', 'Bearer \t\tzz'),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 }).map((s) => `Bearer ${s}`),
);

/** Path segments that are not ids of anything (malformed, or well-formed but unknown). */
export const badId: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  fc.constantFrom(...ODD_STRINGS.filter((s) => s !== '')),
  unicode.filter((s) => s.length > 0),
  fc.integer().map(String),
);

/** Query strings whose values are junk for the route's own parameters. */
export function badQuery(params: readonly string[]): fc.Arbitrary<string> {
  const v = fc.oneof(junkPrimitive.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))), fc.constantFrom('0', '-1', '501', '1.5', 'x', ' ', 'queued,nope', 'QUEUED'));
  return fc.array(fc.tuple(fc.constantFrom(...params), v), { minLength: 1, maxLength: 4 }).map((kv) => new URLSearchParams(kv.map(([k, x]) => [k, x])).toString());
}

/** A fingerprint of every row a request could change (last_used_at excluded: reading with a key touches it once a minute). */
export async function fingerprint(db: Db): Promise<string> {
  const [r] = await db.execute<{ f: string }>(sql`select md5(concat_ws('#',
    (select string_agg(p::text, ',' order by p.id) from plans p),
    (select string_agg(u::text, ',' order by u.id) from users u),
    (select string_agg(j::text, ',' order by j.id) from jobs j),
    (select string_agg(concat_ws('|', k.id, k.key_hash, k.revoked_at, k.expires_at), ',' order by k.id) from api_keys k),
    (select string_agg(o::text, ',' order by o.id) from operators o),
    (select string_agg(s::text, ',' order by s.key) from settings s),
    (select string_agg(c::text, ',' order by c.id) from job_classes c),
    (select string_agg(w::text, ',' order by w.id) from webhooks w),
    (select string_agg(d::text, ',' order by d.seq) from webhook_deliveries d),
    (select count(*) from webhook_events), (select count(*) from webhook_attempts), (select count(*) from job_results),
    (select count(*) from audit_events), (select count(*) from login_attempts), (select count(*) from sessions),
    (select count(*) from usage), (select count(*) from sweeper_runs))) as f`);
  return r!.f;
}

/** Cheap per-case check: row counts of every table a request could write. */
export async function rowCounts(db: Db): Promise<string> {
  const [r] = await db.execute<{ c: string }>(sql`select concat_ws(',',
    (select count(*) from jobs), (select count(*) from audit_events), (select count(*) from users), (select count(*) from plans),
    (select count(*) from api_keys), (select count(*) from usage), (select count(*) from operators), (select count(*) from sessions),
    (select count(*) from login_attempts), (select count(*) from settings), (select count(*) from sweeper_runs),
    (select count(*) from job_classes), (select count(*) from webhooks), (select count(*) from webhook_deliveries),
    (select count(*) from webhook_events), (select count(*) from webhook_attempts), (select count(*) from job_results)) as c`);
  return r!.c;
}

/** Parses JSON text into an object, or null when it is not one (used to skip bodies that happen to be valid). */
export function parsedObject(text: string): Record<string, unknown> | null {
  try {
    // The server decodes UTF-8 as TextDecoder does, which drops a leading byte-order mark.
    const v: unknown = JSON.parse(text.replace(/^\ufeff/, ''));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
