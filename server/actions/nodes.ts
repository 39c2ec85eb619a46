'use server';

import { z } from 'zod';
import { drainNode, resumeNode } from '../domain/nodes';
import { action } from './action';

const nodeId = z.string().min(1, 'node id is required').max(200);

/** Operator: drain a node (no new work; with a deadline, what still runs then is killed). */
export const drainNodeAction = action(
  z.object({ id: nodeId, reason: z.string().optional(), deadlineSeconds: z.union([z.literal(''), z.coerce.number()]).optional() }),
  'operator',
  async (i, { ctx, actor }) => {
    const n = await drainNode(ctx, actor, i.id, { reason: i.reason ?? '', ...(i.deadlineSeconds !== undefined && i.deadlineSeconds !== '' ? { deadlineSeconds: i.deadlineSeconds } : {}) });
    return { message: `Node ${n.name} is ${n.state}: ${n.running} job${n.running === 1 ? '' : 's'} keep${n.running === 1 ? 's' : ''} running` };
  },
);

/** Operator: resume a drained node. */
export const resumeNodeAction = action(z.object({ id: nodeId, reason: z.string().optional() }), 'operator', async (i, { ctx, actor }) => {
  const n = await resumeNode(ctx, actor, i.id, i.reason ? { reason: i.reason } : {});
  return { message: `Node ${n.name} takes work again` };
});
