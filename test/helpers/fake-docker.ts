import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type { CappedArchive, ContainerInspect, ContainerSpec, ContainerSummary, DockerRuntime, EventSubscription } from '../../server/docker/types';

/**
 * An in-memory DockerRuntime for tests of the sweeper machinery itself (locks, schedules,
 * dry-run, metrics) where the engine is not the subject. SIGTERM/SIGKILL stop a container
 * (exit 143/137) unless it is marked stubborn. Every call is recorded.
 */
export class FakeDocker implements DockerRuntime {
  readonly containers = new Map<string, { labels: Record<string, string>; running: boolean; exitCode: number | null; createdAt: Date; stubborn: boolean; name: string }>();
  readonly calls: string[] = [];
  up = true;

  add(labels: Record<string, string>, o: { running?: boolean; createdAt?: Date; stubborn?: boolean } = {}): string {
    const id = crypto.randomBytes(32).toString('hex');
    this.containers.set(id, { labels, running: o.running ?? true, exitCode: null, createdAt: o.createdAt ?? new Date(), stubborn: o.stubborn ?? false, name: `fake-${id.slice(0, 8)}` });
    return id;
  }
  private check() {
    if (!this.up) throw Object.assign(new Error('connect ECONNREFUSED /fake.sock'), { code: 'ECONNREFUSED' });
  }
  async ping() {
    return this.up;
  }
  lastError() {
    return this.up ? null : 'fake engine down';
  }
  async engineId() {
    this.check();
    return 'FAKE:ENGINE';
  }
  async engineInfo() {
    this.check();
    return { id: 'FAKE:ENGINE', cpus: 4, memoryBytes: 8 * 1024 ** 3 };
  }
  async hasImage() {
    return true;
  }
  async pullImage() {}
  async ensureImage() {}
  async start() {}
  async killEvents() {
    return { signals: [], observed: false };
  }
  async run(spec: ContainerSpec) {
    this.check();
    this.calls.push(`run`);
    return this.add(spec.labels);
  }
  async runtimes() {
    this.check();
    return ['runc'];
  }
  async networkExists(name: string) {
    this.check();
    return name === 'warden-jobs' || name === 'bridge';
  }
  async inspect(id: string): Promise<ContainerInspect | null> {
    this.check();
    const c = this.containers.get(id);
    if (!c) return null;
    return { id, labels: c.labels, running: c.running, status: c.running ? 'running' : 'exited', exitCode: c.exitCode, startedAt: c.createdAt, finishedAt: c.running ? null : new Date(), oomKilled: false };
  }
  async kill(id: string, signal: 'SIGTERM' | 'SIGKILL') {
    this.check();
    this.calls.push(`kill ${signal} ${id}`);
    const c = this.containers.get(id);
    if (!c || !c.running) return false;
    if (!c.stubborn) {
      c.running = false;
      c.exitCode = signal === 'SIGTERM' ? 143 : 137;
    }
    return true;
  }
  async remove(id: string) {
    this.check();
    this.calls.push(`remove ${id}`);
    this.containers.delete(id);
  }
  async removeVolumesByLabel() {
    this.check();
    return 0;
  }
  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    this.check();
    return [...this.containers.entries()]
      .filter(([, c]) => Object.entries(labels).every(([k, v]) => c.labels[k] === v))
      .map(([id, c]) => ({ id, name: c.name, labels: c.labels, state: c.running ? 'running' : 'exited', createdAt: c.createdAt }));
  }
  async logsTail() {
    return '';
  }
  /** Last output per container (tests set it); a container without an entry never wrote. */
  readonly lastOutput = new Map<string, Date>();
  async lastOutputAt(id: string) {
    this.check();
    this.calls.push(`probe ${id}`);
    if (!this.containers.has(id)) return null;
    return { at: this.lastOutput.get(id) ?? null };
  }
  async followLogs(id: string) {
    this.check();
    return this.containers.has(id) ? Readable.from([]) : null;
  }
  /** Archives per container (tests set them); none: the path does not exist. */
  readonly archives = new Map<string, CappedArchive>();
  async archive(id: string): Promise<CappedArchive | null> {
    this.check();
    this.calls.push(`archive ${id}`);
    return this.containers.has(id) ? (this.archives.get(id) ?? null) : null;
  }
  events(): EventSubscription {
    return { close() {} };
  }
}
