/**
 * Where to go after login: a same-site path only. Used by the login page, the login form and
 * POST /auth/login, so there is one rule. Browsers drop tabs and newlines from URLs and read a
 * backslash as a slash, so "/\t/evil.example" and "/\\evil.example" would both leave the site:
 * any control character or backslash is refused outright, and what is left must resolve to this
 * origin. No server-only imports (the client form uses it too).
 */
export const DEFAULT_NEXT = '/overview';

const BASE = 'http://warden.invalid';

export function safeNextPath(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 2000) return DEFAULT_NEXT;
  if (/[\u0000-\u001f\u007f-\u009f\\]/.test(v)) return DEFAULT_NEXT;
  if (!v.startsWith('/') || v.startsWith('//')) return DEFAULT_NEXT;
  let u: URL;
  try {
    u = new URL(v, BASE);
  } catch {
    return DEFAULT_NEXT;
  }
  // Dot segments can normalise "/a/..//evil" into "//evil": check what would be sent, too.
  const out = `${u.pathname}${u.search}${u.hash}`;
  if (u.origin !== BASE || out.startsWith('//')) return DEFAULT_NEXT;
  return out;
}
