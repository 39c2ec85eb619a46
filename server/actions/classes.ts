'use server';

import { z } from 'zod';
import { deleteClass, putClass } from '../domain/classes';
import { classNameSchema } from '../domain/schemas';
import { action } from './action';

/** The class's fields travel as an object; the domain validates them with the shared classFieldsSchema. */
const classInput = z.object({ name: classNameSchema, fields: z.record(z.string(), z.unknown()) });

/** Admin: create or replace a job class. */
export const saveClassAction = action(classInput, 'admin', async (i, { ctx, actor }) => {
  const r = await putClass(ctx, actor, i.name, i.fields);
  return { message: r.created ? `Class ${i.name} created` : `Class ${i.name} saved`, data: { name: r.cls.name } };
});

/** Admin: delete a job class (jobs keep its name in their history). */
export const deleteClassAction = action(z.object({ name: classNameSchema }), 'admin', async (i, { ctx, actor }) => {
  await deleteClass(ctx, actor, i.name);
  return { message: `Class ${i.name} deleted` };
});
