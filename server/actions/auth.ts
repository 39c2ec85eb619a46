'use server';

import { headers } from 'next/headers';
import { z } from 'zod';
import { clientAddress, endSession, loginWithPassword, setSessionCookie } from '../auth/session';
import { action } from './action';

/** The only public action: checks the password (throttled) and sets the session cookie. */
export const loginAction = action(
  z.object({
    email: z.string().trim().min(1, 'Email is required').max(254),
    password: z.string().min(1, 'Password is required').max(200),
  }),
  'public',
  async (i, { ctx }) => {
    const s = await loginWithPassword(ctx, i.email, i.password, clientAddress(await headers()));
    await setSessionCookie(s.token, s.expiresAt);
    return { message: `Signed in as ${s.actor.email}` };
  },
);

/** Ends this browser's session. */
export const logoutAction = action(z.object({}), 'viewer', async (_i, { ctx }) => {
  await endSession(ctx);
  return { message: 'Signed out' };
});
