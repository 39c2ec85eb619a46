import type { Wait } from './waits';

/**
 * Placement, said once and pure (no database, no clock of its own): which node may take which
 * queued job, why a job fits no node, and whether it could ever fit one. The dispatcher's claim
 * (worker/dispatcher.ts) feeds it the node rows (capacity, labels, state, heartbeat) with their
 * allocation (the sum of their active jobs) read in the claim's own transaction; the waits pass
 * and the submit check feed it the same rows.
 *
 * There is no coordinator. Every worker claims only for its own node, and only while its node is
 * the emptiest of the nodes with room for the job, by the job's dominant resource (the one it asks
 * the largest share of, over those nodes' total, as in Dominant Resource Fairness). Its claim
 * raises its own allocation, so the next job goes to whichever node is emptiest then: the claims
 * of N workers interleave into an even spread. Ties are allowed to every tied node (two workers
 * may both take one job each at once: the spread stays within one job per node).
 */

export interface NodeCapacity {
  /** CPUs (already times the overcommit); null = unlimited. */
  cpus: number | null;
  memoryMb: number | null;
  /** Jobs at once; null = unlimited. */
  maxJobs: number | null;
}

export interface Allocation {
  cpus: number;
  memoryMb: number;
  jobs: number;
}

export interface PlacementNode {
  id: string;
  name: string;
  capacity: NodeCapacity;
  allocated: Allocation;
  labels: Record<string, string>;
  /** Active (not draining), its engine answers and its heartbeat is recent: it would claim now. */
  takesWork: boolean;
  /** Heartbeat not stale (domain/nodes.ts NODE_STALE_MS): counted in waits and the submit check. */
  live: boolean;
}

export interface Demand {
  cpus: number;
  memoryMb: number;
  /** The class's nodeSelector (null or {}: any node). */
  selector: Record<string, string> | null;
  /** For messages: the class that set the selector. */
  className?: string | null;
}

export type Resource = 'cpus' | 'memoryMb' | 'jobs';

const EPS = 1e-9;

export function matchesSelector(labels: Record<string, string>, selector: Record<string, string> | null | undefined): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const free = (n: PlacementNode): Allocation => ({
  cpus: n.capacity.cpus == null ? Infinity : n.capacity.cpus - n.allocated.cpus,
  memoryMb: n.capacity.memoryMb == null ? Infinity : n.capacity.memoryMb - n.allocated.memoryMb,
  jobs: n.capacity.maxJobs == null ? Infinity : n.capacity.maxJobs - n.allocated.jobs,
});

/** Room for the job now, on every resource. */
export function fitsNow(n: PlacementNode, d: Demand): boolean {
  const f = free(n);
  return d.cpus <= f.cpus + EPS && d.memoryMb <= f.memoryMb + EPS && f.jobs >= 1;
}

/** Room for the job on the node when empty. */
export function fitsEmpty(n: Pick<PlacementNode, 'capacity'>, d: Demand): boolean {
  const c = n.capacity;
  return (c.cpus == null || d.cpus <= c.cpus + EPS) && (c.memoryMb == null || d.memoryMb <= c.memoryMb + EPS) && (c.maxJobs == null || c.maxJobs >= 1);
}

/**
 * The job's dominant resource over these nodes: the one it asks the largest share of their total
 * capacity of. A resource some node leaves unlimited is not compared; when all are, job count is.
 */
export function dominantResource(d: Demand, nodes: readonly PlacementNode[]): Resource {
  let best: Resource = 'jobs';
  let bestShare = -1;
  const total = (r: Resource) => {
    let t = 0;
    for (const n of nodes) {
      const c = r === 'cpus' ? n.capacity.cpus : r === 'memoryMb' ? n.capacity.memoryMb : n.capacity.maxJobs;
      if (c == null) return null;
      t += c;
    }
    return t;
  };
  for (const r of ['cpus', 'memoryMb', 'jobs'] as const) {
    const t = total(r);
    if (t == null || t <= 0) continue;
    const share = (r === 'cpus' ? d.cpus : r === 'memoryMb' ? d.memoryMb : 1) / t;
    if (share > bestShare + EPS) {
      best = r;
      bestShare = share;
    }
  }
  return best;
}

/** How full a node is by one resource: allocated / capacity (job count when unlimited). */
export function fullness(n: PlacementNode, r: Resource): number {
  const cap = r === 'cpus' ? n.capacity.cpus : r === 'memoryMb' ? n.capacity.memoryMb : n.capacity.maxJobs;
  const used = r === 'cpus' ? n.allocated.cpus : r === 'memoryMb' ? n.allocated.memoryMb : n.allocated.jobs;
  if (cap == null || cap <= 0) return n.allocated.jobs / 1e6;
  return used / cap;
}

export interface Placement {
  /** Indexes (into the given jobs) this node takes now, in order. */
  take: number[];
  /** Jobs left for another node that is emptier and has room (a hint to wake the others). */
  deferred: number;
}

/**
 * Which of `jobs` (in the dispatcher's fair order) the node `own` claims now. Each job, in turn,
 * goes (on paper) to the emptiest node by its dominant resource among those that would take work,
 * have room and match its labels, `own` winning ties; its demand is added to that node before the
 * next job is weighed. `own` takes the jobs that fell to it; the rest are left for the others'
 * claims. Filling the whole batch this way (not stopping at the first job another node would get)
 * lets a node take its share of a burst in one claim: 100 jobs on 2 nodes went from 100 claim
 * transactions to a handful (bench/fleet.ts). `nodes` is every node (own included). Pure.
 */
export function placeForNode(ownId: string, nodes: readonly PlacementNode[], jobs: readonly Demand[]): Placement {
  const state = nodes.map((n) => ({ ...n, allocated: { ...n.allocated } }));
  const own = state.find((n) => n.id === ownId);
  const out: Placement = { take: [], deferred: 0 };
  if (!own) return out;
  jobs.forEach((d, i) => {
    if (!matchesSelector(own.labels, d.selector) || !fitsNow(own, d)) return;
    const room = state.filter((n) => (n.id === ownId || n.takesWork) && matchesSelector(n.labels, d.selector) && fitsNow(n, d));
    const r = dominantResource(d, room);
    // The emptiest node with room gets it; on a tie, this node (so a job never waits on a tie).
    let target = own;
    for (const n of room) if (fullness(n, r) < fullness(target, r) - EPS) target = n;
    target.allocated.cpus += d.cpus;
    target.allocated.memoryMb += d.memoryMb;
    target.allocated.jobs += 1;
    if (target === own) out.take.push(i);
    else out.deferred++;
  });
  return out;
}

// ------------------------------------------------------------------------------------------------
// Words
// ------------------------------------------------------------------------------------------------

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export function formatCpus(c: number): string {
  const v = round(c, 2);
  return `${v} CPU${v === 1 ? '' : 's'}`;
}

export function formatMemory(mb: number): string {
  if (mb >= 1024) return `${round(mb / 1024, 1)} GiB`;
  return `${Math.round(mb)} MiB`;
}

export function formatDemand(d: Pick<Demand, 'cpus' | 'memoryMb'>): string {
  return `${formatCpus(d.cpus)} and ${formatMemory(d.memoryMb)}`;
}

export function formatSelector(sel: Record<string, string>): string {
  return Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What a node lacks for the job, in words ("1 CPU and 512 MiB", "a free job slot"); null when it fits. */
export function shortfall(n: PlacementNode, d: Demand): { words: string; size: number } | null {
  const f = free(n);
  const parts: string[] = [];
  let size = 0;
  if (d.cpus > f.cpus + EPS) {
    parts.push(formatCpus(d.cpus - Math.max(0, f.cpus)));
    size += (d.cpus - Math.max(0, f.cpus)) / Math.max(d.cpus, EPS);
  }
  if (d.memoryMb > f.memoryMb + EPS) {
    parts.push(formatMemory(d.memoryMb - Math.max(0, f.memoryMb)));
    size += (d.memoryMb - Math.max(0, f.memoryMb)) / Math.max(d.memoryMb, EPS);
  }
  if (f.jobs < 1) {
    parts.push('a free job slot');
    size += 1;
  }
  return parts.length === 0 ? null : { words: parts.join(' and '), size };
}

/**
 * Why a queued job (whose user has a free slot) cannot start on any node now, or null when some
 * node that takes work has room (or no node is known: then nothing here holds it).
 * - `no_matching_node`: no live node carries the class's nodeSelector labels;
 * - `no_capacity`: naming what the job asks and the smallest gap ("no node has 2 CPUs and 4 GiB
 *   free: 3 nodes, all full"; or "…: 3 nodes; the closest, web-1 3f2a, lacks 512 MiB").
 */
export function capacityWait(d: Demand, nodes: readonly PlacementNode[]): Wait | null {
  const live = nodes.filter((n) => n.live);
  if (live.length === 0) return null;
  const sel = d.selector && Object.keys(d.selector).length > 0 ? d.selector : null;
  const matching = live.filter((n) => matchesSelector(n.labels, sel));
  if (sel && matching.length === 0) {
    return {
      waitCode: 'no_matching_node',
      waitReason: `Waiting: no live node has the labels ${formatSelector(sel)} (nodeSelector of class ${d.className ?? '?'}; ${plural(live.length, 'live node')})`,
    };
  }
  const taking = matching.filter((n) => n.takesWork);
  if (taking.some((n) => fitsNow(n, d))) return null;
  const what = `Waiting: no ${sel ? `node with ${formatSelector(sel)}` : 'node'} has ${formatDemand(d)} free`;
  const notTaking = matching.length - taking.length;
  const aside = notTaking > 0 ? ` (${plural(notTaking, 'more node')} draining or not answering)` : '';
  if (taking.length === 0) return { waitCode: 'no_capacity', waitReason: `${what}: ${plural(matching.length, 'node')}, none taking work${aside}` };
  const gaps = taking.map((n) => ({ n, gap: shortfall(n, d)! })).sort((a, b) => a.gap.size - b.gap.size || a.n.name.localeCompare(b.n.name));
  const allFull = taking.every((n) => {
    const f = free(n);
    return f.jobs < 1 || (d.cpus > 0 && f.cpus <= EPS) || (d.memoryMb > 0 && f.memoryMb <= EPS);
  });
  if (allFull) return { waitCode: 'no_capacity', waitReason: `${what}: ${plural(taking.length, 'node')}, all full${aside}` };
  const best = gaps[0]!;
  return { waitCode: 'no_capacity', waitReason: `${what}: ${plural(taking.length, 'node')}; the closest, ${best.n.name}, lacks ${best.gap.words}${aside}` };
}

/**
 * Why a job could never start (it asks more than the biggest live node has, even empty), or null.
 * Only nodes that match the selector are weighed; with none known (no live node, or none
 * matching: that job waits with no_matching_node instead), nothing is refused.
 */
export function neverFits(d: Demand, nodes: readonly PlacementNode[]): string | null {
  const matching = nodes.filter((n) => n.live && matchesSelector(n.labels, d.selector));
  if (matching.length === 0) return null;
  if (matching.some((n) => fitsEmpty(n, d))) return null;
  const maxCpus = Math.max(...matching.map((n) => n.capacity.cpus ?? Infinity));
  const maxMem = Math.max(...matching.map((n) => n.capacity.memoryMb ?? Infinity));
  const biggest = [Number.isFinite(maxCpus) ? formatCpus(maxCpus) : null, Number.isFinite(maxMem) ? formatMemory(maxMem) : null].filter(Boolean).join(' and ');
  if (matching.every((n) => n.capacity.maxJobs != null && n.capacity.maxJobs < 1)) return `every node that could run it takes no jobs at all (WARDEN_NODE_MAX_JOBS)`;
  return `it asks for ${formatDemand(d)} and the biggest of ${plural(matching.length, 'live node')} has ${biggest}: it could never start (lower the plan's cpus or memoryMb, or add a bigger node)`;
}
