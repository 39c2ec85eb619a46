'use client';

import { createContext, useContext, type ReactNode } from 'react';

export type Role = 'viewer' | 'operator' | 'admin';
export interface Me {
  email: string;
  role: Role;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
const MeContext = createContext<Me | null>(null);

export function MeProvider({ me, children }: { me: Me; children: ReactNode }) {
  return <MeContext.Provider value={me}>{children}</MeContext.Provider>;
}

/** Who is signed in. Used to hide controls; the server enforces roles on every action anyway. */
export function useMe(): Me & { can: (r: Role) => boolean } {
  const me = useContext(MeContext) ?? { email: '', role: 'viewer' as Role };
  return { ...me, can: (r) => RANK[me.role] >= RANK[r] };
}
