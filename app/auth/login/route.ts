import { getAppContext } from '@/server/app';
import { clientAddress, loginWithPassword, setSessionCookie } from '@/server/auth/session';
import { AppError } from '@/server/domain/errors';

export const dynamic = 'force-dynamic';

/** Same-site paths only: "//host" and "/\\host" would leave the site. */
function safeNext(v: FormDataEntryValue | null): string {
  return typeof v === 'string' && /^\/(?![/\\])/.test(v) ? v : '/overview';
}

function see(to: string): Response {
  return new Response(null, { status: 303, headers: { location: to } });
}

/**
 * The login form's no-JavaScript path: the form posts here when it is submitted before the page
 * has hydrated (a slow first load), so credentials never end up in a URL. With JavaScript the
 * form calls the login server action instead. Either way the same loginWithPassword() runs.
 */
export async function POST(req: Request): Promise<Response> {
  const origin = req.headers.get('origin');
  const host = req.headers.get('host');
  if (origin && host && new URL(origin).host !== host) {
    return new Response('Cross-site login refused', { status: 403 });
  }
  const form = await req.formData().catch(() => null);
  const next = safeNext(form?.get('next') ?? null);
  const email = String(form?.get('email') ?? '');
  const password = String(form?.get('password') ?? '');
  try {
    if (!email || !password) throw new AppError(400, 'invalid_login', 'Email and password are required');
    const ctx = await getAppContext();
    const s = await loginWithPassword(ctx, email, password, clientAddress(req.headers));
    await setSessionCookie(s.token, s.expiresAt);
    return see(next);
  } catch (e) {
    const message = e instanceof AppError ? e.message : 'Login failed; see the server log';
    return see(`/login?${new URLSearchParams({ next, error: message })}`);
  }
}
