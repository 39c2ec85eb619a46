import { getAppContext } from '@/server/app';
import { clientAddress, loginWithPassword, setSessionCookie } from '@/server/auth/session';
import { loginErrorCode } from '@/server/auth/login-errors';
import { safeNextPath } from '@/server/auth/next-path';
import { AppError } from '@/server/domain/errors';
import { BODY_LIMITS, errorResponse, readBody } from '@/server/http';

export const dynamic = 'force-dynamic';

function see(to: string): Response {
  return new Response(null, { status: 303, headers: { location: to } });
}

/**
 * The login form's no-JavaScript path: the form posts here when it is submitted before the page
 * has hydrated (a slow first load), so credentials never end up in a URL. With JavaScript the
 * form calls the login server action instead. Either way the same loginWithPassword() runs.
 * The body is read with a byte counter (BODY_LIMITS.login): a larger one is a 413 in the error
 * shape after at most that many bytes, never buffered.
 */
export async function POST(req: Request): Promise<Response> {
  const origin = req.headers.get('origin');
  const host = req.headers.get('host');
  if (origin && host && origin !== 'null' && URL.canParse(origin) && new URL(origin).host !== host) {
    return new Response('Cross-site login refused', { status: 403 });
  }
  let form: URLSearchParams;
  try {
    const buf = await readBody(req, BODY_LIMITS.login);
    const type = req.headers.get('content-type') ?? '';
    // The form is urlencoded; a multipart body (already bounded above) is parsed the same way.
    form = type.startsWith('multipart/form-data')
      ? new URLSearchParams(
          [...(await new Response(new Uint8Array(buf), { headers: { 'content-type': type } }).formData()).entries()].map(([k, v]) => [k, typeof v === 'string' ? v : '']),
        )
      : new URLSearchParams(buf.toString('utf8'));
  } catch (e) {
    if (e instanceof AppError) return errorResponse(e);
    form = new URLSearchParams();
  }
  const next = safeNextPath(form.get('next'));
  const email = form.get('email') ?? '';
  const password = form.get('password') ?? '';
  try {
    if (!email || !password) throw new AppError(400, 'missing', 'Email and password are required');
    if (email.length > 254 || password.length > 200) throw new AppError(400, 'too_long', 'Email or password is too long');
    const ctx = await getAppContext();
    const s = await loginWithPassword(ctx, email, password, clientAddress(req.headers));
    await setSessionCookie(s.token, s.expiresAt);
    return see(next);
  } catch (e) {
    // A code, never text: the login page shows the fixed message for it (server/auth/login-errors).
    return see(`/login?${new URLSearchParams({ next, error: loginErrorCode(e instanceof AppError ? e.code : undefined) })}`);
  }
}
