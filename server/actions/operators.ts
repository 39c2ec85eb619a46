'use server';

import { z } from 'zod';
import { createOperator, setOperatorRole } from '../domain/operators';
import { ROLES } from '../domain/schemas';
import { action, formBool } from './action';

/** Admin: create an operator (a password is generated and returned once when none is given). */
export const createOperatorAction = action(
  z.object({ email: z.string(), role: z.string(), password: z.string().optional() }),
  'admin',
  async (i, { ctx, actor }) => {
    const r = await createOperator(ctx, actor, { email: i.email, role: i.role, ...(i.password ? { password: i.password } : {}) });
    return { message: `Operator ${r.operator.email} created as ${r.operator.role}`, data: { id: r.operator.id, password: r.password } };
  },
);

/** Admin: change an operator's role, or disable/enable them. */
export const updateOperatorAction = action(
  z.object({ id: z.uuid({ error: 'operator id must be a UUID' }), role: z.enum(ROLES, { error: 'role must be viewer, operator or admin' }), disabled: formBool.optional() }),
  'admin',
  async (i, { ctx, actor }) => {
    const op = await setOperatorRole(ctx, actor, i.id, i.role, i.disabled);
    return { message: `${op.email} is now ${op.disabled ? 'disabled' : `an active ${op.role}`}` };
  },
);
