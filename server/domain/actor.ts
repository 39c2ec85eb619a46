import type { Role } from '../db/schema';
import { forbidden } from './errors';

/** Who is acting. Recorded on every audit row as `operator:<email>`, `api:<user>`, `sweeper:…`. */
export type Actor =
  | { kind: 'operator'; id: string; email: string; role: Role }
  | { kind: 'user'; id: string; name: string }
  | { kind: 'system'; name: 'sweeper:timeout' | 'sweeper:ttl' | 'sweeper:orphan' | 'dispatcher' | 'cli' | 'system' };

export function actorLabel(a: Actor): string {
  switch (a.kind) {
    case 'operator':
      return `operator:${a.email}`;
    case 'user':
      return `api:${a.name}`;
    case 'system':
      return a.name;
  }
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function hasRole(a: Actor, role: Role): boolean {
  if (a.kind === 'system') return true;
  if (a.kind !== 'operator') return false;
  return RANK[a.role] >= RANK[role];
}

/** Throws 403 unless the actor is an operator with at least `role` (system actors pass). */
export function requireRole(a: Actor, role: Role): void {
  if (!hasRole(a, role)) {
    throw forbidden(
      a.kind === 'user'
        ? 'This route needs an operator key; user keys may only submit, read and cancel their own jobs'
        : `This action needs the ${role} role`,
    );
  }
}
