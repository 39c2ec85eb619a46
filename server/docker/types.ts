/**
 * The runtime's types moved to ../runtime/types.ts when Kubernetes became a second runtime; this
 * module re-exports them so callers not yet renamed keep compiling.
 */
import type { Runtime } from '../runtime/types';

export * from '../runtime/types';

/** @deprecated the runtime-neutral name is `Runtime` (server/runtime/types.ts). */
export type DockerRuntime = Runtime;
