import type { Ctx } from '../context';
import type { Actor } from '../domain/actor';
import { classToJson, listClasses } from '../domain/classes';
import { requireRole } from '../domain/actor';
import { listPlans } from '../domain/plans';

/**
 * The Classes view: every class with, for each, the plans whose timeout cap is below its default
 * (their users must pass a timeoutSeconds to use it: a class never lifts a plan's cap).
 */
export async function loadClasses(ctx: Ctx, actor: Actor) {
  requireRole(actor, 'viewer');
  const [classes, plans] = await Promise.all([listClasses(ctx, actor), listPlans(ctx.db)]);
  return {
    generatedAt: ctx.clock.now().toISOString(),
    classes: classes.map((c) => {
      const cap = c.maxTimeoutS;
      return {
        ...classToJson(c),
        plansBelowDefault: plans.filter((p) => p.maxTimeoutS < c.defaultTimeoutS).map((p) => ({ name: p.name, maxTimeoutSeconds: p.maxTimeoutS })),
        plansLoweredBy: cap == null ? [] : plans.filter((p) => p.maxTimeoutS > cap).map((p) => p.name),
      };
    }),
  };
}
export type ClassesData = Awaited<ReturnType<typeof loadClasses>>;
