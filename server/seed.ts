import { config } from './config';
import type { Ctx } from './context';
import { ensureBootstrapAdmin } from './domain/operators';
import { seedDefaultPlans } from './domain/plans';

/** First start: default plans, and an admin login printed once (or taken from the environment). */
export async function ensureSeeded(ctx: Ctx): Promise<void> {
  await seedDefaultPlans(ctx.db);
  const cfg = config();
  const created = await ensureBootstrapAdmin(ctx, { email: cfg.WARDEN_ADMIN_EMAIL, password: cfg.WARDEN_ADMIN_PASSWORD });
  if (created?.password) {
    // Printed once, to the console only: this is the only place the password ever appears.
    console.log(
      `\n  Warden admin login created (shown once):\n    email:    ${created.email}\n    password: ${created.password}\n`,
    );
  } else if (created) {
    console.log(`\n  Warden admin ${created.email} created from WARDEN_ADMIN_EMAIL/WARDEN_ADMIN_PASSWORD\n`);
  }
}
