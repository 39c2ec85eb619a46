/**
 * The one module that talks to Docker (through dockerode). Everything else sees the small
 * Runtime interface from ./types, so the worker and the web app never depend on
 * dockerode's shapes or error conventions.
 *
 * Conventions enforced here, so callers can stay simple:
 * - "Already done" is not an error: kill of a stopped/gone container returns false, remove of a
 *   gone container succeeds, inspect of a gone container is null.
 * - An engine that does not answer (socket missing, connection refused, reset) surfaces as
 *   DockerUnavailableError and is remembered in lastError() for the health banner; an engine that
 *   answers clears it.
 * - Nothing here may crash the process: every stream gets an 'error' handler.
 *
 * Split by concern: stream framing in ./frames, the events subscription in ./events, call
 * deadlines in ./timeboxed, label vocabulary in ./labels; this file is the runtime class
 * (one method per engine call, each with its error conventions beside it; the fence's engine
 * checks are in ./fence, its HostConfig in ./host-config).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import Docker from 'dockerode';
import { log } from '../log';
import { capTar } from './archive';
import { mapDockerEvent, subscribeEvents, type RawDockerEvent } from './events';
import { ensureFence } from './fence';
import { hostConfig, MANAGED_NETWORK } from './host-config';
import { demuxDockerFrames, TailReader, type TailMeter } from './frames';
import { LABEL, RESERVED_LABEL_PREFIXES, reservedLabel } from './labels';
import { slimContainerList } from './list-stream';
import { DockerLogLines } from './log-lines';
import {
  ContainerNameInUseError,
  ContainerNotStartedError,
  type CappedArchive,
  DockerUnavailableError,
  FenceUnavailableError,
  ImageNotPresentError,
  ImageUnavailableError,
  LOG_TAIL_BYTES,
  type PullFailure,
  type ContainerEvent,
  type ContainerInspect,
  type ContainerSpec,
  type ContainerSummary,
  type Runtime,
  type EventSubscription,
  type LogLineStream,
} from '../runtime/types';

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests)
// ---------------------------------------------------------------------------------------------

/** Docker reports unset times as the Go zero time "0001-01-01T00:00:00Z". */
export function parseDockerTime(s: string | undefined | null): Date | null {
  if (!s || s.startsWith('0001-01-01')) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * dockerode options for a DOCKER_HOST-style address: unix:///path, npipe://path, tcp://h:p,
 * http://h:p, https://h:p, ssh://user@h, or a bare h:p. Undefined/empty = dockerode's default
 * (DOCKER_HOST env or the default socket).
 * Every field is set explicitly (even to undefined) because docker-modem merges our options over
 * what it parsed from the DOCKER_HOST env, and an env `host` would otherwise beat our socketPath.
 */
export function dockerOptionsFromHost(dockerHost: string | undefined): Docker.DockerOptions {
  const h = dockerHost?.trim();
  if (!h) return {};
  if (h.startsWith('unix://') || h.startsWith('npipe://')) {
    const socketPath = h.slice(h.indexOf('://') + 3) || '/var/run/docker.sock';
    return { socketPath, host: undefined, port: undefined, protocol: undefined };
  }
  let url: URL;
  try {
    url = new URL(h.includes('://') ? h : `tcp://${h}`);
  } catch {
    throw new Error(`Invalid DOCKER_HOST "${h}": expected unix:///path, tcp://host:port or http(s)://host:port`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme === 'ssh') {
    return {
      socketPath: undefined,
      protocol: 'ssh',
      host: url.hostname,
      port: url.port || 22,
      username: url.username || undefined,
      sshOptions: { agent: process.env.SSH_AUTH_SOCK },
    };
  }
  if (!['tcp', 'http', 'https'].includes(scheme)) {
    throw new Error(`Unsupported DOCKER_HOST scheme "${scheme}:" in "${h}"`);
  }
  // Same TLS rules as the docker CLI: https://, DOCKER_TLS_VERIFY=1, or the TLS port 2376.
  const tls = scheme === 'https' || process.env.DOCKER_TLS_VERIFY === '1' || url.port === '2376';
  const opts: Docker.DockerOptions = {
    socketPath: undefined,
    protocol: tls ? 'https' : 'http',
    host: url.hostname,
    port: url.port || (tls ? 2376 : 2375),
  };
  const certDir = process.env.DOCKER_CERT_PATH;
  if (tls && certDir) {
    opts.ca = fs.readFileSync(path.join(certDir, 'ca.pem'));
    opts.cert = fs.readFileSync(path.join(certDir, 'cert.pem'));
    opts.key = fs.readFileSync(path.join(certDir, 'key.pem'));
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Error classification
// ---------------------------------------------------------------------------------------------

/** What dockerode/docker-modem rejects with: HTTP errors carry statusCode, socket errors a code. */
interface DockerError {
  message: string;
  statusCode?: number;
  code?: string;
  name?: string;
}

function asDockerError(err: unknown): DockerError {
  if (err && typeof err === 'object' && 'message' in err) return err as DockerError;
  return { message: String(err) };
}

function statusOf(err: unknown): number | undefined {
  const s = asDockerError(err).statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Socket-level failures: the engine did not answer at all (as opposed to answering "no"). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT', // unix socket path missing
  'EACCES', // unix socket not readable by us
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'ABORT_ERR',
]);

function isConnectionError(err: unknown): boolean {
  const e = asDockerError(err);
  if (statusOf(err) !== undefined) return false;
  return (e.code !== undefined && CONNECTION_CODES.has(e.code)) || e.name === 'AbortError';
}

/** The engine's own message without docker-modem's "(HTTP code 404) no such container - " prefix. */
function engineMessage(err: unknown): string {
  const m = asDockerError(err).message.trim();
  const i = m.indexOf(' - ');
  return m.startsWith('(HTTP code') && i >= 0 ? m.slice(i + 3).trim() : m;
}

/**
 * Why a pull failed, from the engine's message, in Warden's own words. The registry's words never
 * reach a job's reason: dockerd copies a registry's response body into its error ("error parsing
 * HTTP 404 response body: invalid character '<' …" followed by the whole HTML page), and a user
 * who points an image at a service on the host's network would read that service's pages there.
 * Only a cause and an HTTP status are kept; the engine's own message goes to the worker's log.
 */
export function classifyPullError(message: string): { failure: PullFailure; why: string } {
  const m = message;
  // First: after these words comes the body, which may say anything ("connection refused" too).
  const parsing = /error parsing HTTP (\d{3}) response body/i.exec(m);
  if (parsing) return { failure: 'http_error', why: `the registry answered HTTP ${parsing[1]} with something that is not a registry's answer` };
  if (/connection refused/i.test(m)) return { failure: 'refused', why: 'the registry refused the connection' };
  if (/dial tcp: lookup |no such host|server misbehaving|name resolution/i.test(m)) return { failure: 'unresolvable', why: "the registry's name does not resolve" };
  if (/toomanyrequests|too many requests/i.test(m)) return { failure: 'http_error', why: 'the registry is limiting pulls (too many requests)' };
  const status = /unexpected (?:HTTP )?status(?: code)?:? (\d{3})/i.exec(m);
  if (status) return { failure: 'http_error', why: `the registry answered HTTP ${status[1]}` };
  if (/manifest unknown|not found|does not exist|no such image/i.test(m)) return { failure: 'not_found', why: 'the registry has no such image (not found)' };
  if (/unauthorized|authentication required|access.*denied|denied|forbidden/i.test(m)) return { failure: 'denied', why: 'the registry refused access (authentication required or denied)' };
  if (/server gave HTTP response to HTTPS client/i.test(m)) return { failure: 'other', why: "the registry speaks plain HTTP and the engine pulls from it over HTTPS only (the engine's insecure-registries setting)" };
  if (/x509|certificate/i.test(m)) return { failure: 'other', why: "the engine does not trust the registry's TLS certificate" };
  if (/i\/o timeout|timeout|deadline exceeded|connection reset|EOF|no route to host|network is unreachable/i.test(m)) return { failure: 'no_answer', why: 'the registry did not answer (timeout, reset or unreachable)' };
  // Anything else: no words of the engine's at all (they may quote the registry); the worker's log has them.
  return { failure: 'other', why: "the engine could not pull it (its error is in the worker's log)" };
}


/** A start refused because of a stale endpoint left in the engine's network store, if it was one. */
export function staleEndpoint(err: unknown): { name: string; network: string } | null {
  if (statusOf(err) !== 403) return null;
  const m = /endpoint with name (\S+) already exists in network (\S+)/.exec(engineMessage(err));
  return m ? { name: m[1]!, network: m[2]! } : null;
}
const PING_TIMEOUT_MS = 2_000;
const KILL_EVENTS_TIMEOUT_MS = 10_000;
/** logsTail's first read (lines); widened ×8 while the lines are short (see logsTail). */
const LOG_TAIL_FIRST_LINES = 32;
/** Retries of a start the engine failed with a 5xx (0.5 s, 1 s, 2 s apart). */
const START_RETRIES = 3;
/** ensureImage()'s deadline (WARDEN_PULL_TIMEOUT_S's default); the dispatcher passes the setting. */
const DEFAULT_PULL_TIMEOUT_MS = 300_000;

/** The subset of dockerode's ping we use; its typings omit the abortSignal option it honours. */
type PingWithSignal = (opts: { abortSignal: AbortSignal }) => Promise<unknown>;

// ---------------------------------------------------------------------------------------------
// The runtime
// ---------------------------------------------------------------------------------------------

class DockerodeRuntime implements Runtime {
  readonly kind = 'docker' as const;
  private readonly docker: Docker;
  /** Human-readable engine address, used in error messages. */
  private readonly where: string;
  private lastErr: string | null = null;
  /** Images known to be present, so a busy dispatcher does not inspect the image on every run. */
  private readonly knownImages = new Set<string>();
  /** One in-flight pull per image, shared by every job waiting for it. */
  private readonly pulls = new Map<string, Promise<void>>();

  constructor(dockerHost: string | undefined) {
    this.docker = new Docker(dockerOptionsFromHost(dockerHost));
    this.where = dockerHost?.trim() || 'default socket';
  }

  /**
   * Runs one engine call with uniform bookkeeping: any HTTP answer proves the engine is up
   * (clears lastError); a socket failure is recorded and rethrown as DockerUnavailableError.
   */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const out = await fn();
      this.lastErr = null;
      return out;
    } catch (err) {
      throw this.translate(err);
    }
  }

  private translate(err: unknown): unknown {
    if (err instanceof DockerUnavailableError || err instanceof ImageUnavailableError) return err;
    if (isConnectionError(err)) {
      const msg = `Docker engine unreachable (${this.where}): ${asDockerError(err).message}`;
      this.lastErr = msg;
      return new DockerUnavailableError(msg, { cause: err });
    }
    if (statusOf(err) !== undefined) this.lastErr = null;
    return err;
  }

  lastError(): string | null {
    return this.lastErr;
  }

  async ping(): Promise<boolean> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), PING_TIMEOUT_MS);
    try {
      await (this.docker.ping as unknown as PingWithSignal).call(this.docker, { abortSignal: ac.signal });
      this.lastErr = null;
      return true;
    } catch (err) {
      this.lastErr = ac.signal.aborted
        ? `Docker engine did not answer within ${PING_TIMEOUT_MS} ms (${this.where})`
        : `Docker engine unreachable (${this.where}): ${asDockerError(err).message}`;
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async engineId(): Promise<string> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), PING_TIMEOUT_MS * 2);
    try {
      const info = (await this.call(() => (this.docker.info as unknown as (o: { abortSignal: AbortSignal }) => Promise<unknown>).call(this.docker, { abortSignal: ac.signal }))) as { ID?: string };
      if (!info.ID) throw new Error(`Docker engine (${this.where}) reported no ID`);
      return info.ID;
    } finally {
      clearTimeout(timer);
    }
  }

  async engineInfo(): Promise<{ id: string; cpus: number; memoryBytes: number }> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), PING_TIMEOUT_MS * 2);
    try {
      const info = (await this.call(() => (this.docker.info as unknown as (o: { abortSignal: AbortSignal }) => Promise<unknown>).call(this.docker, { abortSignal: ac.signal }))) as { ID?: string; NCPU?: number; MemTotal?: number };
      if (!info.ID) throw new Error(`Docker engine (${this.where}) reported no ID`);
      return { id: info.ID, cpus: Number(info.NCPU ?? 1), memoryBytes: Number(info.MemTotal ?? 0) };
    } finally {
      clearTimeout(timer);
    }
  }

  async hasImage(image: string): Promise<boolean> {
    if (this.knownImages.has(image)) return true;
    try {
      await this.call(() => this.docker.getImage(image).inspect());
      this.knownImages.add(image);
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  pullImage(image: string, timeoutMs: number): Promise<void> {
    let p = this.pulls.get(image);
    if (!p) {
      p = this.pull(image, timeoutMs).finally(() => this.pulls.delete(image));
      this.pulls.set(image, p);
    }
    return p;
  }

  async ensureImage(image: string): Promise<void> {
    if (!(await this.hasImage(image))) await this.pullImage(image, DEFAULT_PULL_TIMEOUT_MS);
  }

  /**
   * One pull with a deadline. dockerode has none, and a registry that trickles bytes keeps a pull
   * open for as long as it likes. At the deadline Warden aborts its request and stops waiting
   * (Docker 20.10 keeps its own download going regardless; a later pull of the image joins it).
   */
  private async pull(image: string, timeoutMs: number): Promise<void> {
    log.info({ image, timeoutMs }, 'docker: pulling image');
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    try {
      const stream = await this.call(() => this.docker.pull(image, { abortSignal: ac.signal }));
      await new Promise<void>((resolve, reject) => {
        // An abort destroys the socket; followProgress may not hear of it, so listen too.
        ac.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
          if (err) return reject(err);
          // A pull can fail *inside* a 200 response: the error is a line of the progress stream.
          const failed = output.find((o) => o && typeof o.error === 'string');
          if (failed) return reject(new Error(failed.error));
          resolve();
        });
      });
    } catch (err) {
      if (timedOut) throw new ImageUnavailableError(image, `the pull did not finish within ${Math.round(timeoutMs / 1000)} s (WARDEN_PULL_TIMEOUT_S)`, 'deadline');
      const translated = this.translate(err);
      // Engine gone mid-pull (its own socket failed) is an availability problem (retry later), not a bad image.
      if (translated instanceof DockerUnavailableError) throw translated;
      const raw = engineMessage(err);
      const c = classifyPullError(raw);
      // The engine's words (which may hold a registry's response body) go to the operator's log only.
      log.warn({ image, failure: c.failure, err: raw.slice(0, 1000) }, 'docker: pull failed');
      throw new ImageUnavailableError(image, c.why, c.failure);
    } finally {
      clearTimeout(timer);
    }
    this.knownImages.add(image);
  }

  /**
   * The image a container is made from, inspected just before create: one whose own labels fall
   * under a reserved prefix (docker/labels.ts) is refused, since the engine copies them onto the
   * container. Returns the image's id, which create then uses, so the container is made from
   * exactly the image that was checked even if the tag moves meanwhile.
   */
  private async checkedImage(image: string): Promise<string> {
    let info: Docker.ImageInspectInfo;
    try {
      info = await this.call(() => this.docker.getImage(image).inspect());
    } catch (err) {
      if (statusOf(err) === 404) {
        this.knownImages.delete(image);
        throw new ImageNotPresentError(image);
      }
      throw err;
    }
    const bad = reservedLabel(info.Config?.Labels);
    if (bad) {
      throw new FenceUnavailableError(
        `image ${image} carries the label ${bad.slice(0, 100)}, which images may not set (reserved: ${RESERVED_LABEL_PREFIXES.map((p) => `${p}*`).join(', ')})`,
      );
    }
    return info.Id;
  }

  async run(spec: ContainerSpec): Promise<string> {
    await this.ensureFence(spec);
    const imageId = await this.checkedImage(spec.image);
    const options: Docker.ContainerCreateOptions = {
      Image: imageId,
      Labels: spec.labels,
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      HostConfig: hostConfig(spec),
      // No TTY: logs stay multiplexed (stdout/stderr separable) and the output is not rewritten.
      Tty: false,
    };
    if (spec.name) options.name = spec.name;
    // An empty command means "the image's default", same as none.
    if (spec.command && spec.command.length > 0) options.Cmd = spec.command;

    let container: Docker.Container;
    try {
      container = await this.call(() => this.docker.createContainer(options));
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 && /no such image/i.test(asDockerError(err).message)) {
        // Never pull here: pulls have their own deadline and run beside the dispatcher.
        this.knownImages.delete(spec.image);
        throw new ImageNotPresentError(spec.image);
      }
      if (status === 409 && spec.name) throw new ContainerNameInUseError(spec.name);
      throw err;
    }
    try {
      // An engine that just restarted can fail a start with a 5xx ("failed to update store for
      // object type *libnetwork.endpoint") and succeed a moment later: retry the same container
      // rather than make another for the same job and attempt.
      for (let tries = 0; ; tries++) {
        try {
          await this.call(() => container.start());
          break;
        } catch (err) {
          const stale = staleEndpoint(err);
          if (((statusOf(err) ?? 0) < 500 && !stale) || tries >= START_RETRIES) throw err;
          if (stale) {
            // After an engine restart libnetwork can keep an endpoint of a container that no
            // longer exists under this name (403 "endpoint with name … already exists in
            // network …"): every start under the name fails until it is disconnected by force.
            log.warn({ id: container.id, ...stale }, 'docker: stale network endpoint of this name; disconnecting it and retrying');
            await this.call(() => this.docker.getNetwork(stale.network).disconnect({ Container: stale.name, Force: true })).catch((e: unknown) =>
              log.warn({ err: engineMessage(e), ...stale }, 'docker: could not disconnect the stale endpoint'),
            );
          } else {
            log.warn({ id: container.id, err: engineMessage(err), tries: tries + 1 }, 'docker: start failed with an engine error; retrying');
          }
          await new Promise((r) => setTimeout(r, 500 * 2 ** tries));
        }
      }
    } catch (err) {
      // The engine in trouble (5xx, or gone): keep the never-started container for the next claim
      // of this attempt, which starts it (one container per attempt).
      if ((statusOf(err) ?? 0) >= 500 || err instanceof DockerUnavailableError) throw new ContainerNotStartedError(container.id, err);
      // Refused (4xx): never leave a created-but-dead container behind.
      await this.remove(container.id).catch((rmErr: unknown) =>
        log.warn({ id: container.id, err: asDockerError(rmErr).message }, 'docker: cleanup after failed start failed'),
      );
      throw err;
    }
    return container.id;
  }

  async start(id: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).start());
    } catch (err) {
      if (statusOf(err) === 304) return; // already started
      throw err;
    }
  }

  /** One managed-network creation in flight per process (see ./fence). */
  private managedNetwork: Promise<void> | null = null;

  private ensureFence(spec: ContainerSpec): Promise<void> {
    return ensureFence(spec, {
      where: this.where,
      runtimes: () => this.runtimes(),
      networkExists: (n) => this.networkExists(n),
      createManagedNetwork: () => {
        this.managedNetwork ??= this.createManagedNetwork().finally(() => {
          this.managedNetwork = null;
        });
        return this.managedNetwork;
      },
    });
  }

  /** Creates the managed bridge; a concurrent creator elsewhere makes the engine answer 409, which is success. */
  private async createManagedNetwork(): Promise<void> {
    if (await this.networkExists(MANAGED_NETWORK.name)) return;
    try {
      await this.call(() =>
        this.docker.createNetwork({
          Name: MANAGED_NETWORK.name,
          Driver: 'bridge',
          // Without it two Wardens creating the network at once would make two of one name.
          CheckDuplicate: true,
          Options: { ...MANAGED_NETWORK.options },
          Labels: { [LABEL.managed]: 'true' },
        }),
      );
      log.info({ network: MANAGED_NETWORK.name }, 'docker: created the managed job network');
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
  }

  private runtimesCache: { at: number; names: string[] } | null = null;

  async runtimes(): Promise<string[]> {
    // `docker info` costs ~10 ms and runtimes change only with a daemon restart: 30 s is fresh enough.
    if (this.runtimesCache && Date.now() - this.runtimesCache.at < 30_000) return this.runtimesCache.names;
    const info = (await this.call(() => this.docker.info())) as { Runtimes?: Record<string, unknown> };
    const names = Object.keys(info.Runtimes ?? {}).sort();
    this.runtimesCache = { at: Date.now(), names };
    return names;
  }

  async networkExists(name: string): Promise<boolean> {
    try {
      await this.call(() => this.docker.getNetwork(name).inspect());
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  async killEvents(id: string, since: Date, until: Date): Promise<{ signals: { signal: string | null; at: Date }[]; observed: boolean }> {
    const ac = new AbortController();
    // A busy engine answers a bounded events query in well under a second; a loaded one (CI's two
    // cores running the suite) took over 4 s, and an unread log reads as "nobody killed it".
    const timer = setTimeout(() => ac.abort(), KILL_EVENTS_TIMEOUT_MS);
    const secs = (d: Date) => (d.getTime() / 1000).toFixed(3);
    try {
      const stream = (await this.call(() =>
        this.docker.getEvents({
          since: secs(since),
          until: secs(until),
          filters: { type: ['container'], container: [id] },
          abortSignal: ac.signal,
        } as unknown as Docker.GetEventsOptions),
      )) as NodeJS.ReadableStream;
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve());
        stream.on('close', () => resolve());
        stream.on('error', (e: Error) => reject(e));
      });
      const signals: { signal: string | null; at: Date }[] = [];
      let observed = false;
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        let raw: RawDockerEvent;
        try {
          raw = JSON.parse(line) as RawDockerEvent;
        } catch {
          continue;
        }
        const ev = mapDockerEvent(raw);
        if (!ev || ev.id !== id) continue;
        observed = true;
        if (ev.action === 'kill') signals.push({ signal: ev.signal, at: ev.at });
      }
      return { signals, observed };
    } finally {
      clearTimeout(timer);
    }
  }

  async inspect(id: string): Promise<ContainerInspect | null> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.call(() => this.docker.getContainer(id).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    const st = info.State;
    // Docker reports ExitCode 0 for containers that are running or never started; that is not
    // an exit code anyone should act on.
    const exited = !st.Running && st.Status !== 'created';
    return {
      id: info.Id,
      labels: info.Config.Labels ?? {},
      running: st.Running,
      status: st.Status,
      exitCode: exited ? st.ExitCode : null,
      startedAt: parseDockerTime(st.StartedAt),
      finishedAt: parseDockerTime(st.FinishedAt),
      oomKilled: st.OOMKilled,
    };
  }

  async kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    try {
      await this.call(() => this.docker.getContainer(id).kill({ signal }));
      return true;
    } catch (err) {
      const status = statusOf(err);
      // 404 gone, 409 not running (older engines say so with a 500): the job is already over.
      if (status === 404 || status === 409) return false;
      if (/is not running/i.test(asDockerError(err).message)) return false;
      throw err;
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).remove({ force: true, v: true }));
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return;
      // Two actors (sweeper + operator) removing at once: the other one is finishing the job.
      if (status === 409 && /already in progress/i.test(asDockerError(err).message)) return;
      throw err;
    }
  }

  async removeVolumesByLabel(label: string, value: string): Promise<number> {
    const res = await this.call(() => this.docker.listVolumes({ filters: { label: [`${label}=${value}`] } }));
    let removed = 0;
    const failures: string[] = [];
    // Try every volume even if one fails, then report the failures together.
    for (const v of res.Volumes ?? []) {
      try {
        await this.call(() => this.docker.getVolume(v.Name).remove());
        removed++;
      } catch (err) {
        if (statusOf(err) === 404) continue; // already gone: someone else's success
        if (err instanceof DockerUnavailableError) throw err;
        failures.push(`${v.Name}: ${engineMessage(err)}`); // e.g. 409 volume in use
      }
    }
    if (failures.length > 0) {
      throw new Error(`Could not remove ${failures.length} volume(s) labelled ${label}=${value}: ${failures.join('; ')}`);
    }
    return removed;
  }

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    // Streamed: the engine's answer (a few KB per container: mounts, networks, ports…) is parsed
    // one container at a time and only the five fields Warden uses are kept. Parsed whole, a
    // listing of 10,000 containers held the full text and every object at once, and the
    // worker's RSS jumped by tens of MB at each orphan sweep and reconcile.
    const stream = await this.call(
      () =>
        new Promise<Readable>((resolve, reject) => {
          this.docker.modem.dial(
            {
              path: '/containers/json?',
              method: 'GET',
              isStream: true,
              statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' },
              options: { all: true, filters: label.length > 0 ? { label } : {} },
            },
            (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as Readable)),
          );
        }),
    );
    return this.call(() => slimContainerList(stream));
  }

  async logsTail(id: string, maxBytes: number = LOG_TAIL_BYTES, meter?: TailMeter): Promise<string> {
    // `tail` counts log lines (entries), not bytes, and the engine has no byte tail. Ask for a
    // few lines and widen ×8 while that was every line asked for and still short of maxBytes;
    // maxBytes lines always suffice (every entry is at least one byte). Each read streams
    // through a fixed ring (TailReader), so memory is O(maxBytes) whatever the lines are; 12 KB
    // lines stop at the first read (32 lines, ~400 KB through the socket, not 24 MB held).
    let tail = LOG_TAIL_FIRST_LINES;
    for (;;) {
      const r = await this.readTail(id, tail, maxBytes, meter);
      if (!r) return '';
      if (r.frames < tail || r.kept >= maxBytes || tail >= maxBytes) return r.text();
      tail = Math.min(tail * 8, maxBytes);
    }
  }

  /** One streamed `logs?tail=N` read through a TailReader; null when the container is gone. */
  private async readTail(id: string, tail: number, maxBytes: number, meter?: TailMeter): Promise<TailReader | null> {
    const reader = new TailReader(maxBytes, meter);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.call(
        () =>
          new Promise<NodeJS.ReadableStream>((resolve, reject) => {
            this.docker.modem.dial(
              {
                path: `/containers/${encodeURIComponent(id)}/logs?`,
                method: 'GET',
                isStream: true,
                statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
                options: { stdout: true, stderr: true, follow: false, tail },
              },
              (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
            );
          }),
      );
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    await this.call(
      () =>
        new Promise<void>((resolve, reject) => {
          stream.on('data', (c: Buffer | string) => reader.write(Buffer.isBuffer(c) ? c : Buffer.from(c)));
          stream.on('end', () => resolve());
          stream.on('close', () => resolve());
          stream.on('error', (e: Error) => reject(e));
        }),
    );
    return reader;
  }

  async lastOutputAt(id: string): Promise<{ at: Date | null } | null> {
    let raw: unknown;
    try {
      raw = await this.call(() => this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, tail: 1, timestamps: true }));
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw ?? ''));
    // Each line starts with the engine's RFC 3339 timestamp (nanoseconds; Date keeps the ms).
    const text = demuxDockerFrames(buf).payload.toString('utf8');
    const stamp = text.slice(0, Math.max(0, text.indexOf(' ')));
    const at = stamp ? new Date(stamp) : null;
    return { at: at && !Number.isNaN(at.getTime()) ? at : null };
  }

  async followLogs(id: string, tail: number): Promise<NodeJS.ReadableStream | null> {
    let raw: NodeJS.ReadableStream;
    try {
      raw = await this.call(() => this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: true, tail }));
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    // Frames can split across chunks: docker-modem's demuxer keeps the partial ones.
    const out = new PassThrough();
    this.docker.modem.demuxStream(raw, out, out);
    raw.on('end', () => out.end());
    raw.on('error', (e: Error) => out.destroy(e));
    out.on('close', () => (raw as unknown as { destroy?: () => void }).destroy?.());
    return out;
  }

  async logLines(id: string, opts: { tail: number | 'all'; follow: boolean; sinceNs?: bigint }): Promise<LogLineStream | null> {
    // The engine's `since` is Unix seconds with up to nine decimals, at or after (inclusive).
    const since = opts.sinceNs === undefined || opts.sinceNs < 0n ? {} : { since: `${opts.sinceNs / 1_000_000_000n}.${String(opts.sinceNs % 1_000_000_000n).padStart(9, '0')}` };
    let raw: NodeJS.ReadableStream;
    try {
      // Dialled as a stream also without follow (dockerode's logs() buffers a finished log whole).
      raw = await this.call(
        () =>
          new Promise<NodeJS.ReadableStream>((resolve, reject) => {
            this.docker.modem.dial(
              {
                path: `/containers/${encodeURIComponent(id)}/logs?`,
                method: 'GET',
                isStream: true,
                statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
                options: { stdout: true, stderr: true, timestamps: true, follow: opts.follow, tail: String(opts.tail), ...since },
              },
              (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
            );
          }),
      );
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    const lines = new DockerLogLines();
    const src = raw as unknown as Readable;
    src.on('error', (e: Error) => lines.destroy(e));
    lines.on('close', () => src.destroy());
    src.pipe(lines);
    return lines;
  }

  async archive(id: string, path: string, maxBytes: number): Promise<CappedArchive | null> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.call(() => this.docker.getContainer(id).getArchive({ path }));
    } catch (err) {
      // 404: no such container, or no such path in it. Either way there is nothing to copy.
      if (statusOf(err) === 404) return null;
      throw err;
    }
    return capTar(stream, maxBytes);
  }

  events(onEvent: (e: ContainerEvent) => void, onReconnect?: () => void): EventSubscription {
    return subscribeEvents(
      this.docker,
      {
        answered: () => {
          this.lastErr = null;
        },
        failed: (err) => {
          this.translate(err);
        },
      },
      onEvent,
      onReconnect,
    );
  }
}

/**
 * The Docker runtime for DOCKER_HOST (or opts.dockerHost), defaulting to the local socket.
 * Construction never touches the engine, so it succeeds while Docker is down.
 */
export function createDockerRuntime(opts?: { dockerHost?: string }): Runtime {
  return new DockerodeRuntime(opts?.dockerHost ?? process.env.DOCKER_HOST);
}
