import type { CappedArchive } from './archive';
import type { TailMeter } from './frames';

export type { CappedArchive };

/**
 * The container runtime as Warden sees it. server/docker/runtime.ts is the only module that
 * imports dockerode; everything else talks to this interface (tests may pass a real runtime
 * pointed at another engine).
 */

/**
 * What a job's container is made from. The fence fields are optional only so low-level callers
 * stay short: host-config.ts fills every missing one with FENCE_DEFAULTS, so no container Warden
 * starts is ever without cpu, memory, pids and log caps (see docs/SECURITY.md).
 */
export interface ContainerSpec {
  name?: string;
  image: string;
  command?: string[] | null;
  env?: Record<string, string>;
  labels: Record<string, string>;
  cpus?: number | null;
  memoryMb?: number | null;
  pidsLimit?: number | null;
  /** 'none', 'warden' (the managed bridge, see MANAGED_NETWORK) or an existing network's name. */
  network?: string | null;
  /** OCI runtime name as `docker info` lists it (e.g. runsc); null = the engine's default. */
  runtime?: string | null;
  /** json-file rotation: size of one file (Docker units: 10m, 512k) and how many files are kept. */
  logMaxSize?: string | null;
  logMaxFiles?: number | null;
}

export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Docker state: created | running | exited | dead | paused | restarting | removing */
  state: string;
  createdAt: Date;
}

export interface ContainerInspect {
  id: string;
  labels: Record<string, string>;
  running: boolean;
  status: string;
  exitCode: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  oomKilled: boolean;
}

export interface ContainerEvent {
  /** die | start | kill | destroy | oom | stop | create */
  action: string;
  id: string;
  labels: Record<string, string>;
  exitCode: number | null;
  signal: string | null;
  /** Engine time of the event, nanosecond precision truncated to ms. */
  at: Date;
}

export interface EventSubscription {
  close(): void;
}

export interface DockerRuntime {
  /** Engine reachable? Resolves false (never throws) when not. */
  ping(): Promise<boolean>;
  /** Last error seen talking to the engine, for health display. */
  lastError(): string | null;
  /** The engine's own ID (`docker info` → ID): by default a node's id. Throws when unreachable. */
  engineId(): Promise<string>;
  /** The engine's ID, CPU count and total memory (`docker info` ID, NCPU, MemTotal): a node's default capacity. Throws when unreachable. */
  engineInfo(): Promise<{ id: string; cpus: number; memoryBytes: number }>;
  /** Is the image present on the engine? (Cached once seen; never pulls.) */
  hasImage(image: string): Promise<boolean>;
  /**
   * Pulls the image, giving up after timeoutMs (the request is aborted; Warden stops waiting).
   * Concurrent calls for one image share one pull. Throws ImageUnavailableError naming the
   * image (registry error or deadline), DockerUnavailableError when the engine went away.
   */
  pullImage(image: string, timeoutMs: number): Promise<void>;
  /** hasImage, else pullImage with a 300 s deadline. */
  ensureImage(image: string): Promise<void>;
  /**
   * Creates and starts a container (Init: true, labels, caps); returns its id. Never pulls:
   * throws ImageNotPresentError when the image is absent, ContainerNameInUseError when a
   * container of that name exists (the same job and attempt: callers inspect it by name).
   */
  run(spec: ContainerSpec): Promise<string>;
  /** Starts a created (or stopped) container. */
  start(id: string): Promise<void>;
  /**
   * `kill` events the engine still remembers for this container between since and until (engine
   * time), oldest first; `observed` is false when the engine has no record of the container in
   * that window at all (restarted since, or its event log moved on), so absence proves nothing.
   */
  killEvents(id: string, since: Date, until: Date): Promise<{ signals: { signal: string | null; at: Date }[]; observed: boolean }>;
  /** OCI runtimes the engine offers (`docker info` Runtimes); throws DockerUnavailableError when it does not answer. */
  runtimes(): Promise<string[]>;
  /** Whether a network of that name (or id) exists on the engine. */
  networkExists(name: string): Promise<boolean>;
  /** null when the container does not exist. */
  inspect(id: string): Promise<ContainerInspect | null>;
  /** Sends a signal. Returns false when the container is gone or not running (already done). */
  kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean>;
  /** Force-removes the container and its anonymous volumes. Gone or removal-in-progress = success. */
  remove(id: string): Promise<void>;
  /** Removes named volumes carrying the given label (e.g. warden.job=<id>). Returns count removed. */
  removeVolumesByLabel(label: string, value: string): Promise<number>;
  /** Containers (any state) matching all label filters, e.g. {'warden.managed': 'true'}. */
  list(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /**
   * Last maxBytes of combined stdout/stderr as text ('' when the container is gone), read
   * through a fixed buffer: memory O(maxBytes) whatever the line lengths. `meter` (tests) counts
   * what came through and the most the reader held.
   */
  logsTail(id: string, maxBytes?: number, meter?: TailMeter): Promise<string>;
  /**
   * When the container last wrote to stdout/stderr (engine time of its newest log line; `at`
   * null when it never wrote anything). null when the container is gone. One cheap call: the
   * engine reads only the last line of the log.
   */
  lastOutputAt(id: string): Promise<{ at: Date | null } | null>;
  /**
   * The container's combined stdout/stderr as a live stream (the last `tail` lines, then new
   * output as it comes), ending when the container stops. null when the container is gone.
   * Destroy the stream to stop following.
   */
  followLogs(id: string, tail: number): Promise<NodeJS.ReadableStream | null>;
  /**
   * Copies `path` out of the container (running or stopped) with Docker's archive API, as a tar
   * of whole entries capped at maxBytes (see ./archive). null when the container or the path
   * does not exist.
   */
  archive(id: string, path: string, maxBytes: number): Promise<CappedArchive | null>;
  /**
   * Container events for containers with label warden.managed=true. Line-buffered; reconnects
   * after an engine restart (calling onReconnect so callers can reconcile missed events).
   */
  events(onEvent: (e: ContainerEvent) => void, onReconnect?: () => void): EventSubscription;
}

/**
 * Why a pull failed, by cause (never the registry's own words: they may carry a response body).
 * `refused`, `unresolvable`, `http_error` and `no_answer` may pass: the start tries again, a few
 * times with backoff. The others will not.
 */
export type PullFailure = 'refused' | 'unresolvable' | 'http_error' | 'no_answer' | 'not_found' | 'denied' | 'deadline' | 'policy' | 'other';

/** Reasons stay short (≤ 300 characters): a long image name is shortened in them. */
export const PULL_REASON_MAX = 300;

export class ImageUnavailableError extends Error {
  constructor(
    public readonly image: string,
    /** A short sentence of Warden's own ("the registry refused the connection"). */
    public readonly why: string,
    public readonly failure: PullFailure = 'other',
  ) {
    const shown = image.length > 120 ? `${image.slice(0, 117)}...` : image;
    super(`image ${shown} could not be pulled: ${why}`.slice(0, PULL_REASON_MAX));
  }
}

export class DockerUnavailableError extends Error {}

/** run(): the image is not on the engine (the caller pulls it, in the background, and retries). */
export class ImageNotPresentError extends Error {
  constructor(public readonly image: string) {
    super(`Image "${image}" is not present on the engine`);
  }
}

/** run(): a container with this name exists already (names are per job and attempt). */
export class ContainerNameInUseError extends Error {
  constructor(public readonly containerName: string) {
    super(`A container named ${containerName} already exists`);
  }
}
/**
 * run(): the container was made but the engine failed its start with an error of its own (5xx
 * after retries, or it went away). The container is left in place, never started, so the next
 * claim of the same attempt starts it instead of making another; whoever fails the job removes it.
 */
export class ContainerNotStartedError extends Error {
  constructor(
    public readonly containerId: string,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** The container's fence cannot be built on this engine (unknown runtime, missing network): the job fails with this message. */
export class FenceUnavailableError extends Error {}

export const LOG_TAIL_BYTES = 64 * 1024;
