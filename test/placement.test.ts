import { describe, expect, it } from 'vitest';
import { nodeFacts, nodeState, toPlacementNode } from '../server/domain/nodes';
import { capacityWait, dominantResource, neverFits, placeForNode, type Demand, type PlacementNode } from '../server/domain/placement';

/** Placement alone: no database, no Docker; time is a fixed date (nodes' heartbeats are relative to it). */

const NOW = new Date('2026-12-03T12:00:00Z');

function node(id: string, o: Partial<Omit<PlacementNode, 'capacity' | 'allocated'>> & { cpus?: number | null; mem?: number | null; maxJobs?: number | null; used?: [number, number, number] } = {}): PlacementNode {
  const [c, m, j] = o.used ?? [0, 0, 0];
  return {
    id,
    name: o.name ?? `host-${id}`,
    capacity: { cpus: o.cpus === undefined ? 4 : o.cpus, memoryMb: o.mem === undefined ? 8192 : o.mem, maxJobs: o.maxJobs ?? null },
    allocated: { cpus: c, memoryMb: m, jobs: j },
    labels: o.labels ?? {},
    takesWork: o.takesWork ?? true,
    live: o.live ?? true,
  };
}
const job = (cpus = 1, memoryMb = 512, selector: Record<string, string> | null = null): Demand => ({ cpus, memoryMb, selector, className: selector ? 'gpu' : null });

describe('placeForNode: the emptiest node with room takes the job', () => {
  const cases: { name: string; own: string; nodes: PlacementNode[]; jobs: Demand[]; take: number[]; deferred: number }[] = [
    { name: 'all empty: a tie, so each node may take one, then the others are emptier', own: 'a', nodes: [node('a'), node('b'), node('c')], jobs: [job(), job(), job()], take: [0], deferred: 2 },
    { name: 'own node fuller than another: defers', own: 'a', nodes: [node('a', { used: [2, 1024, 2] }), node('b', { used: [1, 512, 1] })], jobs: [job()], take: [], deferred: 1 },
    { name: 'own node emptiest: takes until it is fuller than another (a tie still takes)', own: 'b', nodes: [node('a', { used: [2, 1024, 2] }), node('b')], jobs: [job(), job(), job(), job()], take: [0, 1, 2], deferred: 1 },
    { name: 'the fuller node with room takes when the emptier is draining', own: 'a', nodes: [node('a', { used: [3, 0, 3] }), node('b', { takesWork: false })], jobs: [job()], take: [0], deferred: 0 },
    { name: 'no room on own node: nothing, not even deferred', own: 'a', nodes: [node('a', { used: [4, 0, 4] }), node('b')], jobs: [job()], take: [], deferred: 0 },
    { name: 'max jobs binds before CPUs', own: 'a', nodes: [node('a', { maxJobs: 1 }), node('b', { takesWork: false })], jobs: [job(), job()], take: [0], deferred: 0 },
    { name: 'memory binds: a 6 GiB job does not fit twice in 8 GiB', own: 'a', nodes: [node('a', { cpus: 16 })], jobs: [job(1, 6144), job(1, 6144)], take: [0], deferred: 0 },
    { name: 'overcommitted CPUs (capacity already multiplied) fit fractional jobs', own: 'a', nodes: [node('a', { cpus: 1 })], jobs: [job(0.25), job(0.25), job(0.25), job(0.25), job(0.25)], take: [0, 1, 2, 3], deferred: 0 },
    {
      name: 'dominant resource: a memory-heavy job goes by memory, not by CPU count',
      own: 'a',
      // a: CPUs 3/4 used, memory 1/8 GiB; b: CPUs 0/4, memory 6/8 GiB. The job asks 0.5 CPU and 2 GiB: memory dominates, a is emptier by memory.
      nodes: [node('a', { used: [3, 1024, 1] }), node('b', { used: [0, 6144, 1] })],
      jobs: [job(0.5, 2048)],
      take: [0],
      deferred: 0,
    },
    { name: 'labels: own node lacks gpu=true, skips without deferring', own: 'a', nodes: [node('a'), node('b', { labels: { gpu: 'true' } })], jobs: [job(1, 512, { gpu: 'true' })], take: [], deferred: 0 },
    { name: 'labels: a non-matching emptier node is not weighed', own: 'b', nodes: [node('a'), node('b', { labels: { gpu: 'true' }, used: [3, 0, 3] })], jobs: [job(1, 512, { gpu: 'true' })], take: [0], deferred: 0 },
    { name: 'own node unknown: takes nothing', own: 'x', nodes: [node('a')], jobs: [job()], take: [], deferred: 0 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = placeForNode(c.own, c.nodes, c.jobs);
      expect(p.take).toEqual(c.take);
      expect(p.deferred).toBe(c.deferred);
    });
  }

  it('three workers taking turns (each claims only while emptiest) spread 12 jobs 4/4/4', () => {
    const nodes = [node('a', { cpus: 8 }), node('b', { cpus: 8 }), node('c', { cpus: 8 })];
    let queue = 12;
    // Worst order: a drains as long as it may, then b, then c, repeatedly.
    for (let round = 0; round < 20 && queue > 0; round++) {
      for (const n of nodes) {
        const p = placeForNode(n.id, nodes, Array.from({ length: queue }, () => job()));
        for (const _ of p.take) {
          n.allocated.cpus += 1;
          n.allocated.memoryMb += 512;
          n.allocated.jobs += 1;
          queue--;
        }
      }
    }
    expect(nodes.map((n) => n.allocated.jobs)).toEqual([4, 4, 4]);
  });

  it('dominantResource ignores a resource some node leaves unlimited', () => {
    expect(dominantResource(job(1, 4096), [node('a'), node('b')])).toBe('memoryMb');
    expect(dominantResource(job(2, 512), [node('a'), node('b')])).toBe('cpus');
    expect(dominantResource(job(2, 512), [node('a', { cpus: null, mem: null })])).toBe('jobs');
  });
});

describe('capacityWait: why a job fits no node, in words', () => {
  const cases: { name: string; d: Demand; nodes: PlacementNode[]; code: string | null; reason?: string }[] = [
    { name: 'a node has room: no wait', d: job(), nodes: [node('a'), node('b', { used: [4, 0, 4] })], code: null },
    { name: 'no nodes known: nothing said here', d: job(), nodes: [], code: null },
    {
      name: 'three full nodes',
      d: job(2, 4096),
      nodes: [node('a', { used: [4, 8192, 4] }), node('b', { used: [4, 8192, 4] }), node('c', { used: [4, 8192, 4] })],
      code: 'no_capacity',
      reason: 'Waiting: no node has 2 CPUs and 4 GiB free: 3 nodes, all full',
    },
    {
      name: 'names the smallest gap',
      d: job(2, 4096),
      nodes: [node('a', { name: 'web-1 3f2a', used: [3, 1024, 3] }), node('b', { name: 'web-2 77c1', used: [3.5, 1024, 3] })],
      code: 'no_capacity',
      reason: 'Waiting: no node has 2 CPUs and 4 GiB free: 2 nodes; the closest, web-1 3f2a, lacks 1 CPU',
    },
    {
      name: 'max jobs reached',
      d: job(),
      nodes: [node('a', { name: 'n1', maxJobs: 2, used: [2, 1024, 2] })],
      code: 'no_capacity',
      reason: 'Waiting: no node has 1 CPU and 512 MiB free: 1 node, all full',
    },
    {
      name: 'every node draining',
      d: job(),
      nodes: [node('a', { takesWork: false }), node('b', { takesWork: false })],
      code: 'no_capacity',
      reason: 'Waiting: no node has 1 CPU and 512 MiB free: 2 nodes, none taking work (2 more nodes draining or not answering)',
    },
    {
      name: 'no node has the labels',
      d: job(1, 512, { gpu: 'true' }),
      nodes: [node('a', { labels: { zone: 'a' } })],
      code: 'no_matching_node',
      reason: 'Waiting: no live node has the labels gpu=true (nodeSelector of class gpu; 1 live node)',
    },
    { name: 'a down node is not weighed', d: job(1, 512, { gpu: 'true' }), nodes: [node('a', { labels: { gpu: 'true' }, live: false, takesWork: false }), node('b')], code: 'no_matching_node' },
    { name: 'never says user_limit', d: job(8, 512), nodes: [node('a', { used: [0, 0, 0] })], code: 'no_capacity' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const w = capacityWait(c.d, c.nodes);
      expect(w?.waitCode ?? null).toBe(c.code);
      if (c.reason) expect(w?.waitReason).toBe(c.reason);
    });
  }
});

describe('neverFits: refused at submit only when no live node could ever hold it', () => {
  it('bigger than the biggest live node', () => {
    const m = neverFits(job(6, 512), [node('a'), node('b', { cpus: 5 })]);
    expect(m).toContain('asks for 6 CPUs and 512 MiB');
    expect(m).toContain('the biggest of 2 live nodes has 5 CPUs and 8 GiB');
  });
  it('fits an empty node (even a full or draining one): not refused', () => {
    expect(neverFits(job(4, 8192), [node('a', { used: [4, 8192, 1], takesWork: false })])).toBeNull();
  });
  it('no live node, or none matching the selector: not refused (it waits)', () => {
    expect(neverFits(job(64), [node('a', { live: false })])).toBeNull();
    expect(neverFits(job(64, 512, { gpu: 'true' }), [node('a')])).toBeNull();
  });
  it('unlimited capacity never refuses', () => {
    expect(neverFits(job(64, 1 << 20), [node('a', { cpus: null, mem: null })])).toBeNull();
  });
});

describe('node rows', () => {
  it('capacity from settings and engine: CPUs × overcommit, memory − 10%, a name of host + short engine id', () => {
    const f = nodeFacts({ WARDEN_NODE_CPU_OVERCOMMIT: 2, WARDEN_NODE_LABELS: { gpu: 'true' } }, { id: 'ABCD:EFGH:IJKL', cpus: 2, memoryBytes: 10 * 1024 ** 3 }, 'web-1');
    expect(f).toEqual({ name: 'web-1 abcdef', cpus: 4, memoryMb: 9216, maxJobs: null, labels: { gpu: 'true' } });
    const g = nodeFacts({ WARDEN_NODE_CPUS: 3, WARDEN_NODE_CPU_OVERCOMMIT: 1, WARDEN_NODE_MEMORY_MB: 1000, WARDEN_NODE_MAX_JOBS: 5, WARDEN_NODE_LABELS: {} }, { id: 'x', cpus: 2, memoryBytes: 1 }, 'h');
    expect(g).toMatchObject({ cpus: 3, memoryMb: 1000, maxJobs: 5 });
  });
  it('state: draining turns drained when empty; a stale heartbeat is down', () => {
    const fresh = new Date(NOW.getTime() - 5_000);
    expect(nodeState({ state: 'active', heartbeatAt: fresh }, 3, NOW)).toBe('active');
    expect(nodeState({ state: 'draining', heartbeatAt: fresh }, 3, NOW)).toBe('draining');
    expect(nodeState({ state: 'draining', heartbeatAt: fresh }, 0, NOW)).toBe('drained');
    expect(nodeState({ state: 'active', heartbeatAt: new Date(NOW.getTime() - 61_000) }, 0, NOW)).toBe('down');
  });
  it('a node takes work only while active, its engine answers and its heartbeat is recent (15 s)', () => {
    const row = (o: { state?: string; dockerOk?: boolean; ageMs?: number }) =>
      toPlacementNode(
        {
          row: { id: 'n', name: 'n', heartbeatAt: new Date(NOW.getTime() - (o.ageMs ?? 1000)), startedAt: NOW, dockerOk: o.dockerOk ?? true, dockerError: null, version: null, cpus: 2, memoryMb: 1024, maxJobs: null, labels: {}, state: o.state ?? 'active', drainReason: null, drainedBy: null, drainStartedAt: null, drainDeadlineAt: null },
          allocated: { cpus: 0, memoryMb: 0, jobs: 0 },
          running: 0,
        },
        NOW,
      );
    expect(row({}).takesWork).toBe(true);
    expect(row({ state: 'draining' }).takesWork).toBe(false);
    expect(row({ dockerOk: false }).takesWork).toBe(false);
    expect(row({ ageMs: 16_000 })).toMatchObject({ takesWork: false, live: true });
    expect(row({ ageMs: 61_000 })).toMatchObject({ takesWork: false, live: false });
  });
});
