import os from 'node:os';
import type { DbOrTx } from '../db/client';
import type { Job, Plan } from '../db/schema';
import type { Runtime } from '../runtime/types';
import { loseJob } from './lifecycle';

/**
 * Containers stopped by someone other than Warden. Warden signals a container only after moving
 * its job to `terminating` (timeouts, kills, a parent's end: sigterm_at/sigkill_at record it), so
 * the container of a `running` job that was signalled, stopped or removed was touched by someone
 * else: `docker kill`, `docker stop`, `docker rm -f`, an engine shutting down. Its job did not
 * fail; it was lost, and is retried while maxRetries allows (loseJob). An OOM kill is the
 * kernel's verdict on the job itself and stays `failed` (completeJob checks OOMKilled first).
 *
 * Evidence, best first: the engine's `kill` event seen live (the worker writes it on the row,
 * jobs.external_signal, before the `die` is judged); for an exit nobody watched (worker down),
 * the engine's event log; and when the engine has no record at all (it restarted since: its log
 * is in memory), an exit by SIGTERM/SIGKILL (143/137) is taken to be the engine's shutdown,
 * since the container itself did not choose it and Warden did not send it.
 */

const SIGNALS: Record<string, string> = Object.fromEntries(Object.entries(os.constants.signals).map(([name, n]) => [String(n), name]));

/** Docker's `signal` attribute ("9", "15", or a name) as a name: SIGKILL, SIGTERM… */
export function signalName(sig: string | null | undefined): string {
  if (!sig) return 'a signal';
  if (/^\d+$/.test(sig)) return SIGNALS[sig] ?? `signal ${sig}`;
  return sig.startsWith('SIG') ? sig : `SIG${sig}`;
}

/** How long after a container's exit its `kill` event may still be logged (see externalStop). */
const KILL_AFTER_EXIT_MS = 1000;

const short = (id: string) => id.slice(0, 12);

/**
 * Why the container of a running job stopped, when that was someone other than Warden; null when
 * it ended on its own; 'unknown' when the engine cannot be asked right now (it is going down or
 * coming up: the caller leaves the job as it is and asks again on its next pass).
 * `unobserved`: nobody saw it end live (reconcile), so ask the engine's log.
 */
export async function externalStop(
  docker: Runtime | null,
  job: Pick<Job, 'externalSignal'>,
  containerId: string,
  exitCode: number | null,
  unobserved: boolean,
): Promise<string | null | 'unknown'> {
  const code = exitCode == null ? '' : `, exit ${exitCode}`;
  if (job.externalSignal) return `container ${short(containerId)} was stopped by someone other than Warden (${job.externalSignal}${code})`;
  if (!unobserved || !docker) return null;
  let h: Awaited<ReturnType<Runtime['killEvents']>>;
  try {
    const ins = await docker.inspect(containerId);
    if (!ins?.startedAt) return null;
    // The engine logs `kill` once the signal call returns, which on a busy engine can be after
    // the container already exited: look a second past the exit (waiting that long if the exit
    // is that recent; a window ending in the future would hold the engine's answer until then).
    const end = (ins.finishedAt ?? ins.startedAt).getTime() + KILL_AFTER_EXIT_MS;
    const wait = end - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, KILL_AFTER_EXIT_MS)));
    h = await docker.killEvents(containerId, new Date(ins.startedAt.getTime() - 1000), new Date(Math.min(end, Date.now())));
  } catch {
    return 'unknown';
  }
  if (h.signals.length > 0) return `container ${short(containerId)} was stopped by someone other than Warden (${signalName(h.signals[0]!.signal)}${code})`;
  if (!h.observed && (exitCode === 137 || exitCode === 143)) {
    return `container ${short(containerId)} was stopped by ${exitCode === 137 ? 'SIGKILL' : 'SIGTERM'} (exit ${exitCode}) that Warden did not send, while nobody watched; its engine has no record of it (restarted since, or the event aged out of its log)`;
  }
  return null;
}

/** A locked running job whose container someone else stopped or removed: lost (and retried). */
export function loseInTx(tx: DbOrTx, job: Job, plan: Plan, at: Date, why: string, actor: string, details: Record<string, unknown> = {}, logTail: string | null = null) {
  return loseJob(tx, { job, plan, at, why, actor, details: { external: true, ...details }, logTail });
}
