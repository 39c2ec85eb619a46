/**
 * What /login?error=<code> may show: a fixed message per code, chosen here, never text from the
 * URL (a link could otherwise put any words, e.g. "call this number", on Warden's login page).
 * The no-JavaScript login route redirects with one of these codes; an unknown code shows the
 * generic one.
 */
export const LOGIN_ERRORS = {
  invalid_login: 'Email or password is incorrect',
  missing: 'Email and password are required',
  too_long: 'Email or password is too long',
  too_many_attempts: 'Too many failed logins. Try again in 15 minutes.',
  failed: 'Login failed. Try again.',
} as const;

export type LoginErrorCode = keyof typeof LOGIN_ERRORS;

/** The fixed message for a `?error=` value, or null when there is none. */
export function loginErrorMessage(code: unknown): string | null {
  if (typeof code !== 'string' || code === '') return null;
  return Object.hasOwn(LOGIN_ERRORS, code) ? LOGIN_ERRORS[code as LoginErrorCode] : LOGIN_ERRORS.failed;
}

/** The code a failed login redirects with: the error's own code when it is one of ours. */
export function loginErrorCode(code: string | undefined): LoginErrorCode {
  return code && Object.hasOwn(LOGIN_ERRORS, code) ? (code as LoginErrorCode) : 'failed';
}
