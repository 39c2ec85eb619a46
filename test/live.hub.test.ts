import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_CHANNEL, LiveHub } from '../server/dashboard/live-hub';
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

  it('a submitted job announces `jobs`; its cancel announces job:<id>:cancelled', async () => {
    const ctx = await makeCtx(tdb.db);
    const { actor } = await makeUser(ctx, { name: 'live' });
    const j = await submitJob(ctx, actor, { image: 'busybox:1.36', command: ['true'] });
    await until('the insert to be announced', async () => heard.includes('jobs'), 10_000, 50);
    await cancelJob(ctx, OPERATOR, j.id);
    await until('the transition to be announced', async () => heard.includes(`job:${j.id}:cancelled`), 10_000, 50);
  });
});
