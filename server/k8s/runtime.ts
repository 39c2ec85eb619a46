/**
 * Kubernetes runtime: the `Runtime` seam (../runtime/types.ts) answered with Pods in one
 * namespace (WARDEN_K8S_NAMESPACE), the only namespace it ever reads or writes. The only module
 * that imports @kubernetes/client-node. One Pod per job attempt (./pod.ts builds it); a
 * "container id" is the Pod's name.
 *
 * Signals: Kubernetes has no signal API. SIGTERM is a delete with gracePeriodSeconds = the job's
 * grace (the kubelet sends TERM, waits the grace, then KILL: the escalation Warden runs on Docker
 * itself); SIGKILL is a delete with gracePeriodSeconds 0; a Pod stuck Terminating past grace +
 * STUCK_MARGIN_S is force-deleted by the watch loop. Exits, deletions and evictions come from a
 * watch on the namespace's Warden Pods (resumed from its resourceVersion after a disconnect; a
 * 410 Gone relists and calls onReconnect so the worker reconciles) and are turned into the same
 * die / kill / destroy events the Docker runtime sends.
 */
import { randomBytes } from 'node:crypto';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { PassThrough, Readable, Writable } from 'node:stream';
import path from 'node:path';
import {
  CoreV1Api,
  Exec,
  KubeConfig,
  Log,
  Watch,
  type V1Pod,
} from '@kubernetes/client-node';
import { capTar, type CappedArchive } from '../docker/archive';
import { LABEL, MANAGED } from '../docker/labels';
import { DockerLogLines } from '../docker/log-lines';
import {
  ContainerNameInUseError,
  DockerUnavailableError,
  LOG_TAIL_BYTES,
  type ClusterNode,
  type ContainerEvent,
  type ContainerInspect,
  type ContainerSpec,
  type ContainerSummary,
  type EventSubscription,
  type LogLineStream,
  type Runtime,
} from '../runtime/types';
import {
  evictionReason,
  hasKeeper,
  KEEPER,
  labelSelector,
  labelsOf,
  MAIN,
  mainExit,
  cpusOf,
  memoryMbOf,
  matches,
  podFor,
  podState,
  PULL_ATTEMPTS,
  pullFailure,
  pullIsFinal,
  pullReason,
  STUCK_MARGIN_S,
} from './pod';

export interface KubernetesRuntimeOptions {
  namespace: string;
  /** Image of the results keeper (see ./pod.ts keeperContainer). */
  keeperImage?: string;
  /** A KubeConfig already loaded (tests); default: KUBECONFIG, else in-cluster (loadFromDefault). */
  kubeConfig?: KubeConfig;
}

/** Lines a log tail asks for before cutting it to bytes (the API's limitBytes keeps the head, not the tail). */
const TAIL_LINES = 5000;
/** Bytes of results snapshotted at SIGTERM/SIGKILL, before a delete can take the keeper along. */
const SNAPSHOT_MAX_BYTES = 256 * 1024 * 1024;
/**
 * What the kubelet sends (with 200) for the log of a container it has removed already: its own
 * words, or the runtime's (CRI) NotFound when the container goes while a follow is open.
 */
const KUBELET_LOG_GONE = /^(?:unable to retrieve container logs for \S+|rpc error: code = NotFound desc = an error occurred when try to find container "[^"]*": not found)\s*$/;
/** How long an exiting Pod's log tail and results stay cached after the Pod is gone. */
const CACHE_MS = 10 * 60_000;

/**
 * The log of a Pod not yet scheduled is a 204 with no body and no Content-Type, which the client
 * cannot parse and throws on (without a status code): no output yet, not an unreachable API.
 */
const NO_CONTENT = /^Cannot parse content\. No Content-Type defined/;
const isNoContent = (e: unknown) => e instanceof Error && NO_CONTENT.test(e.message);
/** A log answer that means "the container has not started": 400 waiting to start, 204 not scheduled. */
const notStarted = (code: number) => code === 400 || code === 204;
/** How often a log follow waiting for its container to start reads the Pod. */
const LOG_WAIT_POLL_MS = 500;

const statusOf = (e: unknown): number | undefined => {
  const x = e as { code?: unknown; statusCode?: unknown; body?: { code?: unknown } };
  if (typeof x?.code === 'number') return x.code;
  if (typeof x?.statusCode === 'number') return x.statusCode;
  return undefined;
};

/** The identity Warden runs as may not read its namespace: the Role is missing, or the namespace is. */
export class K8sForbiddenError extends Error {
  readonly code = 403;
  constructor(namespace: string) {
    super(
      `Kubernetes refused to let Warden read namespace ${namespace} (403): create the namespace and grant the Role in deploy/kubernetes/rbac.yaml (README.md, "Running on Kubernetes")`,
    );
    this.name = 'K8sForbiddenError';
  }
}

interface Seen {
  die: boolean;
  kill: boolean;
  destroy: boolean;
  pullFailures: number;
  lastPullReason: string | null;
}

class KubernetesRuntime implements Runtime {
  readonly kind = 'kubernetes' as const;
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly ns: string;
  private readonly keeperImage: string;
  private lastErr: string | null = null;
  private nsReady: Promise<void> | null = null;
  /** Pods Warden itself asked to delete (so their deletion is not someone else's). */
  private readonly ourDeletes = new Set<string>();
  private readonly tails = new Map<string, { text: string; at: number }>();
  private readonly results = new Map<string, { tar: Buffer; path: string; at: number }>();
  /** Pods whose log a kill follows into `tails` (see followTail). */
  private readonly following = new Set<string>();

  constructor(o: KubernetesRuntimeOptions) {
    this.ns = o.namespace;
    this.keeperImage = o.keeperImage ?? 'busybox:latest';
    this.kc = o.kubeConfig ?? new KubeConfig();
    if (!o.kubeConfig) this.kc.loadFromDefault();
    this.core = this.kc.makeApiClient(CoreV1Api);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.lastErr = null;
      return r;
    } catch (e) {
      const code = statusOf(e);
      if (isNoContent(e)) throw e;
      if (code === undefined || code >= 500) {
        this.lastErr = e instanceof Error ? e.message : String(e);
        throw new DockerUnavailableError(`Kubernetes API unreachable: ${this.lastErr}`);
      }
      throw e;
    }
  }

  /** The namespace exists (created on first contact when missing). */
  private ensureNamespace(): Promise<void> {
    if (!this.nsReady) {
      this.nsReady = (async () => {
        try {
          await this.call(() => this.core.readNamespace({ name: this.ns }));
        } catch (e) {
          // Not granted, or the namespace (and so its RoleBinding) does not exist: say what to do,
          // not the API's whole answer.
          if (statusOf(e) === 403) throw new K8sForbiddenError(this.ns);
          if (statusOf(e) !== 404) throw e;
          try {
            await this.call(() => this.core.createNamespace({ body: { metadata: { name: this.ns, labels: { [LABEL.managed]: 'true' } } } }));
          } catch (e2) {
            if (statusOf(e2) !== 409) throw e2;
          }
        }
      })();
      this.nsReady.catch(() => {
        this.nsReady = null;
      });
    }
    return this.nsReady;
  }

  private async readPod(name: string): Promise<V1Pod | null> {
    try {
      return await this.call(() => this.core.readNamespacedPod({ name, namespace: this.ns }));
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.ensureNamespace();
      // One cheap read each time: the namespace being known once says nothing about now.
      await this.call(() => this.core.readNamespace({ name: this.ns }));
      return true;
    } catch (e) {
      this.lastErr = statusOf(e) === 403 ? new K8sForbiddenError(this.ns).message : e instanceof Error ? e.message : String(e);
      return false;
    }
  }

  lastError(): string | null {
    return this.lastErr;
  }

  /** This runtime's "engine": the namespace, named with its UID (stable for the namespace's life). */
  async engineId(): Promise<string> {
    await this.ensureNamespace();
    const ns = await this.call(() => this.core.readNamespace({ name: this.ns }));
    return `k8s.${this.ns}.${(ns.metadata?.uid ?? 'unknown').slice(0, 8)}`.slice(0, 63);
  }

  /**
   * The "engine's" capacity is the cluster's: allocatable cpus and memory summed over its ready,
   * schedulable nodes (the scheduler places each Pod; this only bounds what Warden starts at once
   * unless WARDEN_NODE_CPUS / WARDEN_NODE_MEMORY_MB say otherwise). Without the optional
   * permission to list nodes, the capacity is unbounded (1024 cpus, 4 TiB) and the cluster's
   * quota, if any, is the limit.
   */
  async engineInfo(): Promise<{ id: string; cpus: number; memoryBytes: number }> {
    const id = await this.engineId();
    const nodes = (await this.clusterNodes()).filter((n) => n.ready && !n.unschedulable);
    if (nodes.length === 0) return { id, cpus: 1024, memoryBytes: 4 * 1024 ** 4 };
    const cpus = nodes.reduce((s, n) => s + (n.allocatableCpus ?? 0), 0);
    const memoryBytes = nodes.reduce((s, n) => s + (n.allocatableMemoryMb ?? 0), 0) * 1024 * 1024;
    return { id, cpus, memoryBytes };
  }

  /** The kubelet pulls; Warden never does (pull failures end the attempt from the watch). */
  async hasImage(): Promise<boolean> {
    return true;
  }
  async pullImage(): Promise<void> {}
  async ensureImage(): Promise<void> {}

  async run(spec: ContainerSpec): Promise<string> {
    await this.ensureNamespace();
    // Jobs' Pods are named per job and attempt; an unnamed spec (tests, tools) gets a fresh name.
    const name = spec.name ?? `warden-${randomBytes(6).toString('hex')}`;
    const pod = podFor({ ...spec, name }, { namespace: this.ns, keeperImage: this.keeperImage });
    try {
      await this.call(() => this.core.createNamespacedPod({ namespace: this.ns, body: pod }));
    } catch (e) {
      if (statusOf(e) === 409) throw new ContainerNameInUseError(name);
      throw e;
    }
    return name;
  }

  /** A Pod starts itself once scheduled. */
  async start(): Promise<void> {}

  /** The API keeps no signal history: absence proves nothing. */
  async killEvents(): Promise<{ signals: { signal: string | null; at: Date }[]; observed: boolean }> {
    return { signals: [], observed: false };
  }

  /** Runtime classes are not offered through Warden on Kubernetes (the plan's runtime must be unset). */
  async runtimes(): Promise<string[]> {
    return [];
  }

  /** Pod networking is the cluster's (NetworkPolicy is the operator's); every plan network is accepted. */
  async networkExists(): Promise<boolean> {
    return true;
  }

  async inspect(id: string): Promise<ContainerInspect | null> {
    const pod = await this.readPod(id);
    if (!pod) return null;
    return this.toInspect(pod);
  }

  private toInspect(pod: V1Pod): ContainerInspect {
    const state = podState(pod);
    const exit = mainExit(pod);
    const main = pod.status?.containerStatuses?.find((c) => c.name === MAIN);
    const startedAt = main?.state?.running?.startedAt ?? main?.state?.terminated?.startedAt ?? pod.status?.startTime;
    return {
      id: pod.metadata!.name!,
      labels: labelsOf(pod),
      // Pending (scheduling, pulling) counts as running: it has not stopped, and a kill must reach it.
      running: state !== 'exited',
      status: state,
      exitCode: exit?.exitCode ?? null,
      startedAt: startedAt ? new Date(startedAt) : null,
      finishedAt: exit?.finishedAt ?? null,
      oomKilled: exit?.reason === 'OOMKilled',
    };
  }

  private async deletePod(name: string, graceSeconds: number): Promise<boolean> {
    this.ourDeletes.add(name);
    try {
      await this.call(() => this.core.deleteNamespacedPod({ name, namespace: this.ns, gracePeriodSeconds: graceSeconds }));
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw e;
    }
  }

  async kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    const pod = await this.readPod(id);
    if (!pod || podState(pod) === 'exited') return false;
    // A delete takes the keeper and the Pod's logs along: keep what a later read needs.
    await this.snapshot(pod);
    const grace = signal === 'SIGKILL' ? 0 : Math.max(1, pod.spec?.terminationGracePeriodSeconds ?? 30);
    // What the job prints during its grace (a trapped TERM's goodbye) comes after the snapshot,
    // and the kubelet drops the container's log with the Pod: follow it to the end.
    if (grace > 0) await this.followTail(id, grace + STUCK_MARGIN_S);
    return this.deletePod(id, grace);
  }

  /**
   * Follows the job container's log into the cached tail (the last LOG_TAIL_BYTES) until the
   * container ends or `maxSeconds` pass, so the tail saved at the end has what was printed after
   * SIGTERM even when the Pod (and its log) is gone by the time the exit is handled.
   */
  private async followTail(name: string, maxSeconds: number): Promise<void> {
    if (this.following.has(name)) return;
    this.following.add(name);
    let buf = Buffer.alloc(0);
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length > LOG_TAIL_BYTES) buf = buf.subarray(buf.length - LOG_TAIL_BYTES);
        const text = buf.toString('utf8');
        if (!KUBELET_LOG_GONE.test(text)) this.tails.set(name, { text, at: Date.now() });
        cb();
      },
    });
    const done = () => this.following.delete(name);
    sink.on('finish', done);
    sink.on('error', done);
    try {
      const ctl = await new Log(this.kc).log(this.ns, name, MAIN, sink, { follow: true, tailLines: TAIL_LINES });
      const stop = setTimeout(() => ctl.abort(), maxSeconds * 1000);
      stop.unref?.();
      sink.on('finish', () => clearTimeout(stop));
    } catch {
      done();
    }
  }

  /** The log tail and, with a keeper, the results as they are now (best effort). */
  private async snapshot(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    await this.logsTail(name).catch(() => '');
    const mount = pod.spec?.containers?.find((c) => c.name === KEEPER)?.volumeMounts?.[0]?.mountPath;
    if (!mount) return;
    try {
      const a = await this.execTar(name, mount, SNAPSHOT_MAX_BYTES);
      if (a) this.results.set(name, { tar: a.tar, path: mount, at: Date.now() });
    } catch {
      /* the keeper may be gone already */
    }
  }

  async remove(id: string): Promise<void> {
    await this.deletePod(id, 0);
    this.tails.delete(id);
    this.results.delete(id);
  }

  /** emptyDir volumes go with their Pod. */
  async removeVolumesByLabel(): Promise<number> {
    return 0;
  }

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    await this.ensureNamespace();
    const r = await this.call(() => this.core.listNamespacedPod({ namespace: this.ns, labelSelector: labelSelector({ ...labels }) }));
    return r.items.filter((p) => matches(p, labels)).map((p) => this.toSummary(p));
  }

  private toSummary(p: V1Pod): ContainerSummary {
    const st = podState(p);
    return {
      id: p.metadata!.name!,
      name: p.metadata!.name!,
      labels: labelsOf(p),
      state: p.metadata?.deletionTimestamp && st !== 'exited' ? 'removing' : st,
      createdAt: p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp) : new Date(0),
    };
  }

  async logsTail(id: string, maxBytes: number = LOG_TAIL_BYTES): Promise<string> {
    let text: string;
    try {
      text = await this.call(() => this.core.readNamespacedPodLog({ name: id, namespace: this.ns, container: MAIN, tailLines: TAIL_LINES }));
    } catch (e) {
      const code = statusOf(e);
      // 404: the Pod is gone; 400: its container has not started (pending, pull failed); no
      // content: not scheduled yet.
      if (code === 404 || code === 400 || isNoContent(e)) return this.tails.get(id)?.text ?? '';
      throw e;
    }
    // The kubelet answers 200 with this line once the container (and its log file) is gone.
    if (KUBELET_LOG_GONE.test(text ?? '')) return this.tails.get(id)?.text ?? '';
    const buf = Buffer.from(text ?? '', 'utf8');
    const out = buf.length > maxBytes ? buf.subarray(buf.length - maxBytes).toString('utf8') : buf.toString('utf8');
    if (out) this.tails.set(id, { text: out, at: Date.now() });
    return out;
  }

  async lastOutputAt(id: string): Promise<{ at: Date | null } | null> {
    let text: string;
    try {
      text = await this.call(() => this.core.readNamespacedPodLog({ name: id, namespace: this.ns, container: MAIN, tailLines: 1, timestamps: true }));
    } catch (e) {
      const code = statusOf(e);
      if (code === 404) return null;
      if (code === 400 || isNoContent(e)) return { at: null };
      throw e;
    }
    const stamp = (text ?? '').slice(0, Math.max(0, (text ?? '').indexOf(' ')));
    const at = stamp ? new Date(stamp) : null;
    return { at: at && !Number.isNaN(at.getTime()) ? at : null };
  }

  async followLogs(id: string, tail: number): Promise<NodeJS.ReadableStream | null> {
    const pod = await this.readPod(id);
    if (!pod) return null;
    const out = new PassThrough();
    let ctl: AbortController | null = null;
    try {
      ctl = await new Log(this.kc).log(this.ns, id, MAIN, out, { follow: true, tailLines: tail });
    } catch (e) {
      if (statusOf(e) === 404) return null;
      if (statusOf(e) === 400) {
        out.end();
        return out;
      }
      throw e;
    }
    out.on('close', () => ctl?.abort());
    return out;
  }

  /**
   * The Pod log API with timestamps (follow while the container runs). Kubernetes merges stdout
   * and stderr into one log, so every line's stream is null. Following a Pod whose container has
   * not started yet (scheduling, pulling: the API answers 400 "waiting to start") waits for it
   * (the Pod read every LOG_WAIT_POLL_MS) instead of ending at once with nothing; the stream ends
   * empty if the Pod goes away first. `sinceNs` is rounded down to the second (the API's
   * sinceTime has no fraction).
   */
  async logLines(id: string, opts: { tail: number | 'all'; follow: boolean; sinceNs?: bigint }): Promise<LogLineStream | null> {
    const pod = await this.readPod(id);
    if (!pod) return null;
    const q: Record<string, string> = { timestamps: 'true', follow: String(opts.follow) };
    // Set even when 0 (the client's Log helper drops a 0, which asked for the whole log).
    if (opts.tail !== 'all') q.tailLines = String(opts.tail);
    if (opts.sinceNs !== undefined && opts.sinceNs > 0n) q.sinceTime = new Date(Number(opts.sinceNs / 1_000_000_000n) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    const lines = new DockerLogLines({ plain: true, omit: (l) => l.at === null && KUBELET_LOG_GONE.test(l.text) });
    let req: ClientRequest | null = null;
    lines.on('close', () => req?.destroy());
    const pipe = (r: { req: ClientRequest; res: IncomingMessage }) => {
      req = r.req;
      if (lines.destroyed) return void r.req.destroy();
      r.res.on('error', (e: Error) => lines.destroy(e));
      r.res.pipe(lines);
    };
    const first = await this.call(() => this.podLog(id, q));
    if ('res' in first) {
      pipe(first);
      return lines;
    }
    // 404 for a Pod read just now: the log request came before the API's copy of it caught up.
    if (first.code === 404 && !(await this.readPod(id))) return null;
    if (first.code !== 404 && !notStarted(first.code)) throw new Error(`Kubernetes refused the log of Pod ${id} (${first.code}): ${first.message}`);
    if (!opts.follow) {
      lines.end();
      return lines;
    }
    void (async () => {
      while (!lines.destroyed) {
        await new Promise((r) => setTimeout(r, LOG_WAIT_POLL_MS));
        if (lines.destroyed) return;
        const p = await this.readPod(id);
        if (!p) return void lines.end();
        if (!p.status?.containerStatuses?.find((c) => c.name === MAIN && (c.state?.running || c.state?.terminated))) continue;
        const r = await this.podLog(id, q);
        if ('res' in r) return pipe(r);
        // 404: the Pod went away since it was read (the next read says so).
        if (r.code !== 404 && !notStarted(r.code)) throw new Error(`Kubernetes refused the log of Pod ${id} (${r.code}): ${r.message}`);
      }
    })().catch((e: unknown) => lines.destroy(e instanceof Error ? e : new Error(String(e))));
    return lines;
  }

  /**
   * GET the job container's log (the Pod log API), streamed: the response when 200, else the API's
   * status code and message. Made here rather than with the client's Log helper, which drops
   * tailLines=0 (asking for the whole log) and keeps a broken response to itself (a follow whose
   * connection failed would neither end nor fail: the reader would wait for good).
   */
  private async podLog(name: string, q: Record<string, string>): Promise<{ req: ClientRequest; res: IncomingMessage } | { code: number; message: string }> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    const url = new URL(`${cluster.server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(this.ns)}/pods/${encodeURIComponent(name)}/log`);
    url.searchParams.set('container', MAIN);
    for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
    const o: https.RequestOptions = { method: 'GET', headers: {} };
    await this.kc.applyToHTTPSOptions(o);
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'http:' ? http : https).request(url, o, (res) => {
        if (res.statusCode === 200) return resolve({ req, res });
        // An error answer is a small Status object: read it (capped), then let the socket go.
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 4096) body += c;
        });
        res.on('end', () => {
          let message = body.slice(0, 300);
          try {
            message = String((JSON.parse(body) as { message?: unknown }).message ?? message);
          } catch {
            /* not JSON */
          }
          resolve({ code: res.statusCode ?? 0, message });
        });
        res.on('error', reject);
      });
      req.on('error', (e) => reject(Object.assign(new Error(`Kubernetes API unreachable: ${e.message}`), { cause: e })));
      req.end();
    });
  }

  /** `tar c` of the results path through the keeper's exec; null when there is no keeper or no path. */
  private async execTar(name: string, p: string, maxBytes: number): Promise<CappedArchive | null> {
    const stdout = new PassThrough();
    const stderr = new Writable({ write: (_c, _e, cb) => cb() });
    let failed: string | null = null;
    const ws = await new Exec(this.kc).exec(this.ns, name, KEEPER, ['tar', 'cf', '-', '-C', path.posix.dirname(p), path.posix.basename(p)], stdout, stderr, null, false, (s) => {
      if (s.status !== 'Success') failed = s.message ?? 'tar failed';
    });
    ws.on('close', () => stdout.end());
    ws.on('error', (e: Error) => stdout.destroy(e));
    try {
      const a = await capTar(stdout, maxBytes);
      if (failed && a.files === 0) return null;
      return a;
    } finally {
      ws.close();
    }
  }

  async archive(id: string, p: string, maxBytes: number): Promise<CappedArchive | null> {
    const pod = await this.readPod(id);
    const cached = this.results.get(id);
    const keeperUp = pod && hasKeeper(pod) && pod.status?.containerStatuses?.find((c) => c.name === KEEPER)?.state?.running;
    if (keeperUp) {
      try {
        const a = await this.execTar(id, p, maxBytes);
        if (a) {
          // The job's container ended: the keeper's work is done once its results are read.
          if (podState(pod) === 'exited') await this.releaseKeeper(id);
          return a;
        }
      } catch {
        /* fall back to the snapshot */
      }
    }
    if (cached && cached.path === p) return capTar(Readable.from([cached.tar]), maxBytes);
    return null;
  }

  private async releaseKeeper(name: string): Promise<void> {
    try {
      // The kubelet refuses an exec with no stream at all ("you must specify at least 1 of stdin,
      // stdout, stderr"), which left the keeper, and the Pod's resource requests, up until the TTL.
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      const ws = await new Exec(this.kc).exec(this.ns, name, KEEPER, ['touch', '/tmp/.warden-read'], sink, null, null, false);
      ws.on('error', () => {});
    } catch {
      /* the Pod's deletion at its TTL ends it anyway */
    }
  }

  events(onEvent: (e: ContainerEvent) => void, onReconnect?: () => void): EventSubscription {
    return new PodWatch(this, onEvent, onReconnect);
  }

  /** The cluster's nodes (read-only: needs `list nodes`), with Warden's live Pods on each. */
  async clusterNodes(): Promise<ClusterNode[]> {
    let nodes;
    try {
      nodes = await this.call(() => this.core.listNode({}));
    } catch (e) {
      // Not granted (the ClusterRole is optional): no nodes to show, nothing else changes.
      if (statusOf(e) === 403) return [];
      throw e;
    }
    const pods = await this.listManaged();
    const per = new Map<string, number>();
    for (const p of pods.items) {
      const n = p.spec?.nodeName;
      if (n && podState(p) !== 'exited') per.set(n, (per.get(n) ?? 0) + 1);
    }
    return nodes.items.map((n) => ({
      name: n.metadata?.name ?? '',
      ready: (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      unschedulable: !!n.spec?.unschedulable,
      allocatableCpus: cpusOf(n.status?.allocatable?.cpu),
      allocatableMemoryMb: memoryMbOf(n.status?.allocatable?.memory),
      wardenPods: per.get(n.metadata?.name ?? '') ?? 0,
    }));
  }

  // -- for PodWatch --------------------------------------------------------------------------
  /** @internal */ get namespace() {
    return this.ns;
  }
  /** @internal */ get config() {
    return this.kc;
  }
  /** @internal */ listManaged() {
    return this.call(() => this.core.listNamespacedPod({ namespace: this.ns, labelSelector: labelSelector(MANAGED) }));
  }
  /** @internal */ deletedByUs(name: string): boolean {
    return this.ourDeletes.has(name);
  }
  /** @internal */ forget(name: string): void {
    this.ourDeletes.delete(name);
    const now = Date.now();
    for (const [k, v] of this.tails) if (now - v.at > CACHE_MS) this.tails.delete(k);
    for (const [k, v] of this.results) if (now - v.at > CACHE_MS) this.results.delete(k);
  }
  /** @internal */ forceDelete(name: string): Promise<boolean> {
    return this.deletePod(name, 0);
  }
  /** @internal */ saveTail(name: string): Promise<unknown> {
    return this.logsTail(name).catch(() => '');
  }
  /** @internal */ noteError(e: unknown): void {
    this.lastErr = e instanceof Error ? e.message : String(e);
  }
}

/**
 * The watch on Warden's Pods in the namespace, turned into container events:
 * - the job container terminated → `die` (exit code; log tail cached first, since a deleted Pod's
 *   logs go with it);
 * - deletionTimestamp set on a Pod Warden did not delete, or an eviction, before the container
 *   ended → `destroy` with the reason in words (the job is `lost`, then retried);
 * - the Pod object gone without either after Warden's own delete (a SIGKILL: grace 0) → `die`
 *   with no exit code (the job ends as what it was being terminated for, its log tail saved);
 * - ErrImagePull seen PULL_ATTEMPTS times (the kubelet backs off between), or a pull that cannot
 *   succeed → `die` with no exit code and a reason naming the image (the job fails);
 * - a Pod Terminating longer than its grace + STUCK_MARGIN_S → force-deleted.
 * Resumes from the last resourceVersion after a disconnect; a 410 Gone (too old) relists and
 * calls onReconnect so the worker's reconcile catches what was missed.
 */
class PodWatch implements EventSubscription {
  private closed = false;
  private rv: string | null = null;
  private ctl: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly seen = new Map<string, Seen>();
  private readonly stuck: NodeJS.Timeout;

  constructor(
    private readonly rt: KubernetesRuntime,
    private readonly onEvent: (e: ContainerEvent) => void,
    private readonly onReconnect?: () => void,
  ) {
    void this.connect(false);
    // Stuck-Terminating check and cache upkeep, off the watch's own path.
    this.stuck = setInterval(() => void this.sweepStuck().catch(() => {}), 5_000);
    this.stuck.unref?.();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.stuck);
    if (this.timer) clearTimeout(this.timer);
    this.ctl?.abort();
  }

  private state(name: string): Seen {
    let s = this.seen.get(name);
    if (!s) {
      s = { die: false, kill: false, destroy: false, pullFailures: 0, lastPullReason: null };
      this.seen.set(name, s);
    }
    return s;
  }

  private async connect(reconnected: boolean): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.rv) {
        const list = await this.rt.listManaged();
        this.rv = list.metadata?.resourceVersion ?? null;
        // Pods that exist now: remember what already happened, so it is not reported again;
        // anything missed while not watching is reconcile()'s.
        for (const p of list.items) this.prime(p);
        if (reconnected) this.onReconnect?.();
      }
      const w = new Watch(this.rt.config);
      this.ctl = await w.watch(
        `/api/v1/namespaces/${this.rt.namespace}/pods`,
        { labelSelector: labelSelector(MANAGED), resourceVersion: this.rv ?? undefined, allowWatchBookmarks: true },
        (type: string, obj: V1Pod & { code?: number }) => {
          if (type === 'ERROR') {
            // 410 Gone: the resourceVersion is too old; relist.
            if (obj?.code === 410) this.rv = null;
            return;
          }
          const rv = obj?.metadata?.resourceVersion;
          if (rv) this.rv = rv;
          if (type === 'BOOKMARK') return;
          void this.handle(type, obj).catch(() => {});
        },
        (err: unknown) => {
          if (err) this.rt.noteError(err);
          this.retry();
        },
      );
    } catch (e) {
      this.rt.noteError(e);
      if (statusOf(e) === 410) this.rv = null;
      this.retry();
    }
  }

  private retry(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect(true);
    }, 1_000);
    this.timer.unref?.();
  }

  private prime(p: V1Pod): void {
    const s = this.state(p.metadata!.name!);
    if (mainExit(p)) s.die = true;
    if (p.metadata?.deletionTimestamp) s.kill = true;
  }

  private emit(p: V1Pod, action: string, o: { exitCode?: number | null; at?: Date | null; reason?: string | null; signal?: string | null } = {}): void {
    this.onEvent({
      action,
      id: p.metadata!.name!,
      labels: labelsOf(p),
      exitCode: o.exitCode ?? null,
      signal: o.signal ?? null,
      at: o.at ?? new Date(),
      reason: o.reason ?? null,
    });
  }

  private async handle(type: string, p: V1Pod): Promise<void> {
    const name = p.metadata?.name;
    if (!name) return;
    const s = this.state(name);
    const exit = mainExit(p);
    const ours = this.rt.deletedByUs(name);
    // Behind Warden's back: deleted, evicted or lost with its node while the job still ran.
    const evicted = evictionReason(p);
    if (!s.die && !s.destroy && (evicted || (p.metadata?.deletionTimestamp && !ours && !s.kill) || (type === 'DELETED' && !ours && !exit))) {
      s.destroy = true;
      await this.rt.saveTail(name);
      const reason = evicted ?? `Pod ${name} was deleted by someone other than Warden`;
      this.emit(p, 'destroy', { reason });
      if (type === 'DELETED') this.done(name);
      return;
    }
    if (exit && !s.die) {
      s.die = true;
      await this.rt.saveTail(name);
      this.emit(p, 'die', { exitCode: exit.exitCode, at: exit.finishedAt });
    }
    const pull = exit ? null : pullFailure(p);
    if (pull && !s.die) {
      if (pull.reason === 'ErrImagePull' && s.lastPullReason !== 'ErrImagePull') s.pullFailures++;
      s.lastPullReason = pull.reason;
      if (s.pullFailures >= PULL_ATTEMPTS || pullIsFinal(pull.reason)) {
        s.die = true;
        const image = p.spec?.containers?.find((c) => c.name === MAIN)?.image ?? '?';
        this.emit(p, 'die', { exitCode: null, reason: pullReason(image, pull) });
      }
    } else if (!pull) {
      s.lastPullReason = null;
    }
    if (type === 'DELETED') {
      if (!s.die && !s.destroy) {
        if (ours) {
          // Warden's own delete with grace 0 (its SIGKILL): the object goes before the container
          // reports an exit. As on Docker (a SIGKILL is a `die`, the removal a later `destroy`),
          // the job ends through its exit, with the log tail saved, not as a removed container.
          s.die = true;
          await this.rt.saveTail(name);
          this.emit(p, 'die', { exitCode: null, signal: 'SIGKILL' });
        } else {
          this.emit(p, 'destroy', { reason: null });
        }
      }
      this.done(name);
    }
  }

  private done(name: string): void {
    this.seen.delete(name);
    this.rt.forget(name);
  }

  /** Pods Terminating past their grace + STUCK_MARGIN_S (a wedged kubelet or node): force-deleted. */
  private async sweepStuck(): Promise<void> {
    if (this.closed) return;
    const list = await this.rt.listManaged();
    const now = Date.now();
    for (const p of list.items) {
      const ts = p.metadata?.deletionTimestamp;
      if (!ts) continue;
      // deletionTimestamp is when the grace ends.
      if (now > new Date(ts).getTime() + STUCK_MARGIN_S * 1000) await this.rt.forceDelete(p.metadata!.name!).catch(() => false);
    }
  }
}

export function createKubernetesRuntime(o: KubernetesRuntimeOptions): Runtime {
  return new KubernetesRuntime(o);
}
