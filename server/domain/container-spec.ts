import type { Job, Plan } from '../db/schema';
import { containerLabels, containerName, type ContainerOwner } from '../docker/labels';
import type { ContainerSpec } from '../runtime/types';

/** Settings of the fence that are the operator's, not the plan's (server/config.ts). */
export interface FenceSettings {
  /** Who owns the container: this worker's node and installation (labels warden.node, warden.installation). */
  owner: ContainerOwner;
  /** json-file rotation: WARDEN_CONTAINER_LOG_MAX_SIZE / _FILES. */
  logMaxSize: string;
  logMaxFiles: number;
}

/**
 * Everything a job's container is made from, as a pure function of the job, its plan and the
 * fence settings: the image and command as submitted, user labels fenced into warden.label.*, and
 * the plan's cpu, memory and pids caps, network and runtime. server/docker/host-config.ts turns
 * this into Docker's HostConfig (capabilities, no-new-privileges, log rotation).
 */
export function containerSpec(
  job: Pick<Job, 'id' | 'userId' | 'attempt' | 'labels' | 'image' | 'command' | 'env'> & Partial<Pick<Job, 'timeoutS' | 'gracePeriodS' | 'resultsPath'>> & { claimId?: string | null },
  plan: Pick<Plan, 'cpus' | 'memoryMb' | 'pidsLimit' | 'network' | 'runtime'> & Partial<Pick<Plan, 'maxTimeoutS'>>,
  s: FenceSettings,
): ContainerSpec {
  return {
    name: containerName(job),
    image: job.image,
    command: job.command,
    env: job.env,
    labels: containerLabels(job, s.owner),
    cpus: plan.cpus,
    memoryMb: plan.memoryMb,
    pidsLimit: plan.pidsLimit,
    network: plan.network,
    runtime: plan.runtime,
    logMaxSize: s.logMaxSize,
    logMaxFiles: s.logMaxFiles,
    timeoutSeconds: job.timeoutS ?? null,
    maxTimeoutSeconds: plan.maxTimeoutS ?? null,
    gracePeriodSeconds: job.gracePeriodS ?? null,
    resultsPath: job.resultsPath ?? null,
  };
}
