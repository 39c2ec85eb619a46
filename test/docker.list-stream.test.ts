import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { slimContainerList } from '../server/docker/list-stream';

/** A Docker `/containers/json` element, with the awkward bytes where they can hurt a scanner. */
function container(i: number, label: string) {
  return {
    Id: `${i}`.padStart(64, '0'),
    Names: [`/warden-${i}`],
    Image: 'img',
    Command: `sh -c "echo \\"}]\\" ; echo {["`,
    Created: 1_700_000_000 + i,
    Ports: [{ PrivatePort: 80, Type: 'tcp' }],
    Labels: { 'warden.job': `job-${i}`, note: label },
    State: i % 3 === 0 ? 'exited' : 'running',
    Status: 'Up 5 minutes',
    HostConfig: { NetworkMode: 'none' },
    NetworkSettings: { Networks: { none: { Aliases: null } } },
    Mounts: [],
  };
}

const LABELS = ['plain', 'quote " inside', 'backslash at end \\', 'two \\\\', '\\"', '}]{[', 'ünïcødé ✓ 日本', '\\\\\\"x', ''];

function expected(items: ReturnType<typeof container>[]) {
  return items.map((c) => ({ id: c.Id, name: c.Names[0]!.slice(1), labels: c.Labels, state: c.State, createdAt: new Date(c.Created * 1000) }));
}

/** Splits the bytes at the given cut points, as a socket would deliver them. */
function chunked(bytes: Buffer, cuts: number[]): Readable {
  const at = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  const parts: Buffer[] = [];
  for (let k = 0; k + 1 < at.length; k++) if (at[k + 1]! > at[k]!) parts.push(bytes.subarray(at[k], at[k + 1]));
  return Readable.from(parts);
}

/** A small seeded generator (mulberry32), so a failing split can be replayed. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('slimContainerList: the engine container list read as it streams', () => {
  const items = LABELS.map((l, i) => container(i, l));
  const bytes = Buffer.from(JSON.stringify(items));

  it('keeps id, name, labels, state and created of every container, in one chunk', async () => {
    expect(await slimContainerList(chunked(bytes, []))).toEqual(expected(items));
  });

  it('gives the same list however the bytes are split: every single cut point, and 300 random splits', async () => {
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await slimContainerList(chunked(bytes, [cut])), `cut at ${cut}`).toEqual(expected(items));
    }
    const next = rng(7);
    for (let run = 0; run < 300; run++) {
      const cuts = Array.from({ length: 1 + Math.floor(next() * 40) }, () => Math.floor(next() * bytes.length));
      expect(await slimContainerList(chunked(bytes, cuts)), `cuts ${cuts.join(',')}`).toEqual(expected(items));
    }
  });

  it('splits byte by byte, through multi-byte characters and backslash runs', async () => {
    const cuts = Array.from({ length: bytes.length }, (_, i) => i);
    expect(await slimContainerList(chunked(bytes, cuts))).toEqual(expected(items));
  });

  it('reads an empty list, and whitespace the engine may put between elements', async () => {
    expect(await slimContainerList(chunked(Buffer.from('[]\n'), []))).toEqual([]);
    const spaced = Buffer.from(`[ ${items.slice(0, 2).map((c) => JSON.stringify(c, null, 2)).join(' ,\n ')} ]\n`);
    expect(await slimContainerList(chunked(spaced, [5, 50, 400]))).toEqual(expected(items.slice(0, 2)));
  });

  it('refuses a list cut off part way, instead of returning fewer containers', async () => {
    await expect(slimContainerList(chunked(bytes.subarray(0, bytes.length - 30), []))).rejects.toThrow(/ended part way/);
    await expect(slimContainerList(chunked(Buffer.from('[{"Id":"a","Names":["/x'), []))).rejects.toThrow(/ended part way/);
  });
});
