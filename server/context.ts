import type { Clock } from './clock';
import type { Db } from './db/client';
import type { Runtime } from './runtime/types';

/**
 * What every domain function and sweeper needs: the database, the clock (the database's, see
 * DbClock), this node's id (by default its Docker engine's ID), this installation's id (labels
 * every container; another installation's are never touched) and the Docker runtime (null in
 * processes that must not touch Docker).
 */
export interface Ctx {
  db: Db;
  clock: Clock;
  node: string;
  installation: string;
  docker: Runtime | null;
}
