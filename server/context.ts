import type { Clock } from './clock';
import type { Db } from './db/client';
import type { DockerRuntime } from './docker/types';

/**
 * What every domain function and sweeper needs: the database, the clock, this node's id and the
 * Docker runtime (null in web-only processes that must not touch Docker).
 */
export interface Ctx {
  db: Db;
  clock: Clock;
  node: string;
  docker: DockerRuntime | null;
}
