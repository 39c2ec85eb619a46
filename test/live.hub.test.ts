import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenTransitions } from '../bench/product';
import { LIVE_CHANNEL, LIVE_STREAMS_PER_USER, LiveHub } from '../server/dashboard/live-hub';
import { cancelJob, submitJob } from '../server/domain/jobs';
import { createTestDatabase } from './helpers/db';
import { OPERATOR, makeCtx, makeUser } from './helpers/fixtures';
import { until } from './helpers/warden-server';

/**
 * The live dashboard's feed: the hub (bounded streams, batched topics) and the triggers that feed
 * it, on a real PostgreSQL.
 */

async function readFrames(body: ReadableStream<Uint8Array>, want: (text: string) => boolean): Promise<string> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let text = '';
  while (!want(text)) {
    const r = await reader.read();
    if (r.done) break;
    text += dec.decode(r.value);
  }
  reader.releaseLock();
  return text;
}

describe('LiveHub', () => {
  it('says hello, then sends a burst of topics as one batch, each topic once', async () => {
    const hub = new LiveHub();
    const ac = new AbortController();
    const body = hub.stream(ac.signal, 10)!;
    expect(body).not.toBeNull();
    hub.publish('job:a:running');
    hub.publish('jobs');
    hub.publish('job:a:running');
    const text = await readFrames(body, (t) => t.includes('data: ['));
    expect(text).toContain('event: hello');
    expect(text).toContain('data: ["job:a:running","jobs"]\n\n');
    ac.abort();
    expect(hub.size).toBe(0);
  });

  it('refuses a stream past maxClients (the route answers 429) and counts only live ones', () => {
    const hub = new LiveHub();
    const a = new AbortController();
    expect(hub.stream(a.signal, 1)).not.toBeNull();
    expect(hub.stream(new AbortController().signal, 1)).toBeNull();
    expect(hub.size).toBe(1);
    a.abort();
    expect(hub.size).toBe(0);
    expect(hub.stream(new AbortController().signal, 1)).not.toBeNull();
  });

  it('a stream for one user gets only topics of its own jobs, without the owner; everyone\'s stream gets all of them', async () => {
    const hub = new LiveHub();
    const ac = new AbortController();
    const all = hub.stream(ac.signal, 10)!;
    const alice = hub.stream(ac.signal, 10, 'alice')!;
    const bob = hub.stream(ac.signal, 10, 'bob')!;
    hub.publish('job:a1:running:alice');
    hub.publish('jobs:bob');
    hub.publish('node');
    hub.publish('sweeper');
    hub.publish('job:b1:queued:bob');
    const [ta, tb, tall] = await Promise.all([alice, bob, all].map((b) => readFrames(b, (t) => t.includes('data: ['))));
    expect(ta).toContain('data: ["job:a1:running"]\n\n');
    expect(tb).toContain('data: ["jobs","job:b1:queued"]\n\n');
    expect(tall).toContain('data: ["job:a1:running","jobs","node","sweeper","job:b1:queued"]\n\n');
    for (const t of [ta, tb]) expect(t).not.toMatch(/node|sweeper/);
    expect(ta).not.toContain('b1');
    expect(tb).not.toContain('a1');
    // A batch with nothing of carol's sends carol nothing (only the hello).
    const carol = hub.stream(ac.signal, 10, 'carol')!;
    hub.publish('job:a2:running:alice');
    expect(await readFrames(alice, (t) => t.includes('data: ['))).toContain('data: ["job:a2:running"]');
    const reader = carol.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: hello');
    const next = reader.read();
    hub.publish('job:c1:queued:carol');
    expect(new TextDecoder().decode((await next).value)).toBe('data: ["job:c1:queued"]\n\n');
    // "Everything changed" reaches every stream, a user's too.
    hub.publish('*');
    expect(await readFrames(bob, (t) => t.includes('data: ['))).toContain('data: ["*"]');
    ac.abort();
    expect(hub.size).toBe(0);
    expect(hub.countFor('alice')).toBe(0);
  });

  it('at most LIVE_STREAMS_PER_USER streams per user; others are not held back by them', () => {
    const hub = new LiveHub();
    const ac = new AbortController();
    for (let i = 0; i < LIVE_STREAMS_PER_USER; i++) expect(hub.stream(ac.signal, 100, 'greedy')).not.toBeNull();
    expect(hub.stream(ac.signal, 100, 'greedy')).toBeNull();
    expect(hub.countFor('greedy')).toBe(LIVE_STREAMS_PER_USER);
    expect(hub.stream(ac.signal, 100, 'modest')).not.toBeNull();
    expect(hub.stream(ac.signal, 100)).not.toBeNull();
    ac.abort();
    expect(hub.size).toBe(0);
  });

  it('more than 200 distinct topics in one batch become one "*" (bounded memory)', async () => {
    const hub = new LiveHub();
    const ac = new AbortController();
    const body = hub.stream(ac.signal, 10)!;
    for (let i = 0; i < 500; i++) hub.publish(`job:${i}:running`);
    const text = await readFrames(body, (t) => t.includes('data: ['));
    expect(text).toContain('data: ["*"]');
    ac.abort();
  });
});

describe('the warden_live triggers (real PostgreSQL)', () => {
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  const heard: string[] = [];
  let unlisten: (() => Promise<void>) | null = null;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const l = await tdb.sql.listen(LIVE_CHANNEL, (p) => heard.push(p));
    unlisten = l.unlisten;
  });
  afterAll(async () => {
    await unlisten?.();
    await tdb?.drop();
  });

  it('a submitted job announces `jobs:<owner>`; its cancel announces job:<id>:cancelled:<owner>', async () => {
    const ctx = await makeCtx(tdb.db);
    const { actor, user } = await makeUser(ctx, { name: 'live' });
    const j = await submitJob(ctx, actor, { image: 'busybox:1.36', command: ['true'] });
    await until('the insert to be announced', async () => heard.includes(`jobs:${user.id}`), 10_000, 50);
    await cancelJob(ctx, OPERATOR, j.id);
    await until('the transition to be announced', async () => heard.includes(`job:${j.id}:cancelled:${user.id}`), 10_000, 50);
  });

  it("the benches' listener (bench/product.ts) hears each transition as job → status", async () => {
    const bench = await listenTransitions(tdb.url);
    try {
      const ctx = await makeCtx(tdb.db);
      const { actor } = await makeUser(ctx, { name: 'live-bench' });
      const j = await submitJob(ctx, actor, { image: 'busybox:1.36', command: ['true'] });
      await cancelJob(ctx, OPERATOR, j.id);
      await until('the bench to hear the cancel', async () => bench.seen.get(j.id)?.has('cancelled') ?? false, 10_000, 50);
    } finally {
      await bench.close();
    }
  });
});
