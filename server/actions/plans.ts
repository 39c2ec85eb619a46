'use server';

import { z } from 'zod';
import { previewPlanChange, upsertPlan } from '../domain/plans';
import { planNameSchema } from '../domain/schemas';
import { action, passThroughObject } from './action';

/** The plan's fields travel as an object; the domain validates them with the shared planFieldsSchema. */
const planInput = z.object({ name: planNameSchema, fields: passThroughObject('fields') });

/** Admin: create or update a plan. Every field is validated by the domain (one rule, written once). */
export const savePlanAction = action(planInput, 'admin', async (i, { ctx, actor }) => {
  const r = await upsertPlan(ctx, actor, i.name, i.fields);
  return { message: r.created ? `Plan ${i.name} created` : `Plan ${i.name} saved`, data: { name: r.plan.name } };
});

/** What a plan change would mean for work in flight (read-only). */
export const previewPlanAction = action(planInput, 'viewer', async (i, { ctx, actor }) => {
  const p = await previewPlanChange(ctx, actor, i.name, i.fields);
  return { message: p.notes.join(' '), data: p };
});
