/**
 * What the container fence needs from an engine before a job's container is created: the plan's
 * runtime is one `docker info` lists, a named network exists, the managed bridge exists (created
 * on first use). A missing piece is a FenceUnavailableError naming it, so the job fails with
 * that message rather than the engine's, and nothing half-fenced is ever started.
 */
import { forbiddenNetwork, MANAGED_NETWORK, networkMode, NO_NETWORK } from './host-config';
import { FenceUnavailableError, type ContainerSpec } from './types';

export interface FenceEngine {
  /** Engine address for messages. */
  where: string;
  runtimes(): Promise<string[]>;
  networkExists(name: string): Promise<boolean>;
  createManagedNetwork(): Promise<void>;
}

/** The message for a runtime the engine does not offer (plan save and container start say the same). */
export function runtimeUnavailable(runtime: string, have: string[], where: string): string {
  return `OCI runtime "${runtime}" is not available on ${where} (it offers: ${have.join(', ') || 'none'}); register it in the engine's daemon.json first`;
}

export async function ensureFence(spec: ContainerSpec, engine: FenceEngine): Promise<void> {
  if (spec.runtime) {
    const have = await engine.runtimes();
    if (!have.includes(spec.runtime)) throw new FenceUnavailableError(runtimeUnavailable(spec.runtime, have, `Docker engine ${engine.where}`));
  }
  const mode = networkMode(spec.network);
  const bad = forbiddenNetwork(mode);
  if (bad) throw new FenceUnavailableError(`Plan network refused: ${bad}`);
  if (mode === NO_NETWORK) return;
  if (mode === MANAGED_NETWORK.name) return engine.createManagedNetwork();
  if (!(await engine.networkExists(mode))) {
    throw new FenceUnavailableError(`Network "${mode}" (plan network) does not exist on Docker engine ${engine.where}`);
  }
}
