import type { CappedArchive } from '../docker/archive';
import type { TailMeter } from '../docker/frames';

export type { CappedArchive };

/**
 * The runtime as Warden sees it: the one seam to whatever runs job containers (STYLE.md 15).
 * Sweepers, the dispatcher, the domain and the API ask a `Runtime` to run, list, signal, remove
 * and read logs; Docker (server/docker/runtime.ts, the only module that imports dockerode) or
 * Kubernetes (server/k8s/runtime.ts, the only module that imports @kubernetes/client-node)
 * answers. server/runtime/index.ts picks one from WARDEN_RUNTIME. Words are Docker's
 * ("container", "engine") because Docker came first; on Kubernetes a container is a job
 * attempt's Pod, its id the Pod's name, and the engine the namespace Warden owns.
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
  /**
   * Runtimes that cannot be signalled directly need these up front (Kubernetes: the Pod's
   * terminationGracePeriodSeconds, its activeDeadlineSeconds backstop, and the emptyDir mounted
   * at the results path). Docker ignores them: Warden sends its signals itself.
   */
  timeoutSeconds?: number | null;
  /** The plan's cap on timeouts: how far an extend may take the job (Kubernetes' backstop covers it). */
  maxTimeoutSeconds?: number | null;
  gracePeriodSeconds?: number | null;
  resultsPath?: string | null;
}

export type RuntimeKind = 'docker' | 'kubernetes';

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
  /**
   * Why, in words, when the runtime knows better than an exit code (Kubernetes: "evicted: node
   * memory pressure", "Pod … was deleted by someone other than Warden", an image that could not
   * be pulled). A `die` with a reason fails the job with it; a `destroy` with one loses it with it.
   */
  reason?: string | null;
}

/** A machine the runtime schedules on, as it reports it (Kubernetes: the cluster's nodes, read-only). */
export interface ClusterNode {
  name: string;
  ready: boolean;
  unschedulable: boolean;
  /** Allocatable cpus and memory (MB) as the node reports them. */
  allocatableCpus: number | null;
  allocatableMemoryMb: number | null;
  /** Warden's Pods (this runtime's namespace) on the node, not yet ended. */
  wardenPods: number;
}

/** One line of a job's output, as the runtime logged it. */
export interface LogLine {
  /** When the runtime logged it (ISO, ms precision); null when not known (a saved tail). */
  at: string | null;
  /** Which stream wrote it; null when the runtime does not tell them apart (Kubernetes, a saved tail). */
  stream: 'stdout' | 'stderr' | null;
  text: string;
  /**
   * The engine's own time of the line to the nanosecond (nanoseconds since the epoch, decimal),
   * when it gave one: what a reconnecting log stream finds its place by. Not sent to clients.
   */
  ns?: string;
}

/** Lines as they come; destroy() stops reading (and frees the engine socket). */
export interface LogLineStream extends AsyncIterable<LogLine> {
  destroy(): void;
}

export interface EventSubscription {
  close(): void;
}

export interface Runtime {
  /** Which runtime answers: docker | kubernetes. */
  readonly kind?: RuntimeKind;
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
  /** Last maxBytes of combined stdout/stderr as text ('' when the container is gone). */
  /**
   * Read through a fixed buffer: memory O(maxBytes) whatever the line lengths. `meter` (tests)
   * counts what came through and the most the reader held.
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
   * The container's output line by line, each with its timestamp and stream: the last `tail`
   * lines ('all': every line the engine kept), then, with `follow`, new lines as they come until
   * the container stops. Streamed with backpressure, never held whole. null when the container
   * is gone. Optional: a runtime without it serves the saved tail.
   * `sinceNs` (nanoseconds since the epoch): only lines the engine stamped at or after it, the
   * `tail` counted before that cut (the last `tail` lines, of which those since). A runtime may
   * round it down (Kubernetes: to the second), never up.
   */
  logLines?(id: string, opts: { tail: number | 'all'; follow: boolean; sinceNs?: bigint }): Promise<LogLineStream | null>;
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
  /**
   * Runtimes that place work themselves (Kubernetes' scheduler) list their machines here, for
   * display only: Warden never drains or labels them. Docker has none (the engine is the node).
   */
  clusterNodes?(): Promise<ClusterNode[]>;
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
