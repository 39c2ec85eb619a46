import type { TailMeter } from './frames';
import type { DockerRuntime } from './types';

/**
 * Docker calls made by sweepers get a deadline: dockerode has none, and a wedged engine would
 * otherwise hang a tick (and the advisory lock it holds) for good. A call that times out counts
 * as a failed side effect (audited, retried with backoff); the request itself may still finish
 * in the background, which every call here tolerates (kill/remove are idempotent).
 */
export const DOCKER_CALL_TIMEOUT_MS = 30_000;

export function timeboxed(docker: DockerRuntime, ms = DOCKER_CALL_TIMEOUT_MS): DockerRuntime {
  const box =
    <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> =>
      deadline(fn(...a), ms, () => new Error(`Docker ${name} did not answer within ${ms / 1000} s`));
  return {
    ping: () => docker.ping(),
    lastError: () => docker.lastError(),
    engineId: box('info', () => docker.engineId()),
    engineInfo: box('info', () => docker.engineInfo()),
    hasImage: box('image check', (i: string) => docker.hasImage(i)),
    // Pulls carry their own deadline (WARDEN_PULL_TIMEOUT_S).
    pullImage: (i, ms) => docker.pullImage(i, ms),
    ensureImage: (i) => docker.ensureImage(i),
    run: (spec) => docker.run(spec),
    start: box('start', (id: string) => docker.start(id)),
    killEvents: box('events', (id: string, since: Date, until: Date) => docker.killEvents(id, since, until)),
    runtimes: box('info', () => docker.runtimes()),
    networkExists: box('network inspect', (n: string) => docker.networkExists(n)),
    inspect: box('inspect', (id: string) => docker.inspect(id)),
    kill: box('kill', (id: string, sig: 'SIGTERM' | 'SIGKILL') => docker.kill(id, sig)),
    remove: box('remove', (id: string) => docker.remove(id)),
    removeVolumesByLabel: box('volume removal', (l: string, v: string) => docker.removeVolumesByLabel(l, v)),
    list: box('list', (labels: Record<string, string>) => docker.list(labels)),
    logsTail: box('logs', (id: string, max?: number, meter?: TailMeter) => docker.logsTail(id, max, meter)),
    lastOutputAt: box('log probe', (id: string) => docker.lastOutputAt(id)),
    // Only the start is timeboxed: the stream itself lasts as long as the container runs.
    followLogs: box('logs', (id: string, tail: number) => docker.followLogs(id, tail)),
    archive: box('archive', (id: string, p: string, max: number) => docker.archive(id, p, max)),
    events: (onEvent, onReconnect) => docker.events(onEvent, onReconnect),
  };
}

export class DeadlineError extends Error {}

/** p, or the error `late()` makes after ms (p itself keeps running; callers must tolerate its late end). */
function deadline<T>(p: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(late()), ms);
    t.unref?.();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** p, or a DeadlineError after ms (p itself keeps running; callers must tolerate its late end). */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return deadline(p, ms, () => new DeadlineError(`${what} did not finish within ${Math.round(ms / 1000)} s`));
}
