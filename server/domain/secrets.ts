import crypto from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;

/** API keys are random 32-byte secrets; only their SHA-256 is stored (they are high-entropy, so a fast hash is fine). */
export function newApiKey(kind: 'user' | 'operator'): { key: string; hash: string; prefix: string } {
  const secret = crypto.randomBytes(32).toString('base64url');
  const key = `wd_${kind === 'user' ? 'u' : 'o'}_${secret}`;
  return { key, hash: sha256(key), prefix: key.slice(0, 10) };
}

export function sha256(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

export function newToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

// scrypt N=2^15, r=8: ~50 ms per hash on the CI box — slow enough for passwords, fine for logins.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export async function hashPassword(pw: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const dk = await scrypt(pw, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${dk.toString('base64')}`;
}

export async function verifyPassword(pw: string, stored: string | null): Promise<boolean> {
  if (!stored) return false;
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const dk = await scrypt(pw, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return crypto.timingSafeEqual(dk, expected);
}

export function randomPassword(): string {
  return crypto.randomBytes(12).toString('base64url');
}
