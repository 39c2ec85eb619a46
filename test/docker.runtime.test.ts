import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapDockerEvent } from '../server/docker/events';
import { demuxDockerFrames, demuxDockerLogs, splitJsonLines, TailReader, utf8Tail, type TailMeter } from '../server/docker/frames';
import { createDockerRuntime, dockerOptionsFromHost, parseDockerTime } from '../server/docker/runtime';
import {
  DockerUnavailableError,
  ImageNotPresentError,
  ImageUnavailableError,
  LOG_TAIL_BYTES,
  type ContainerEvent,
} from '../server/docker/types';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';

/** Polls until fn returns a truthy value (returned) or the timeout passes (throws with `what`). */
async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function frame(type: 1 | 2, text: string | Buffer): Buffer {
  const payload = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

describe('runtime helpers', () => {
  it('splitJsonLines reassembles lines split across arbitrary chunks', () => {
    const text = '{"a":1}\n{"b":"x\\ny"}\r\n\n{"c":3}\n{"d":';
    // Every possible split into two chunks gives the same lines.
    for (let i = 0; i <= text.length; i++) {
      const r1 = splitJsonLines('', text.slice(0, i));
      const r2 = splitJsonLines(r1.rest, text.slice(i));
      expect([...r1.lines, ...r2.lines].map((l) => JSON.parse(l))).toEqual([{ a: 1 }, { b: 'x\ny' }, { c: 3 }]);
      expect(r2.rest).toBe('{"d":');
    }
    // One byte at a time.
    let rest = '';
    const lines: string[] = [];
    for (const ch of text) {
      const r = splitJsonLines(rest, ch);
      rest = r.rest;
      lines.push(...r.lines);
    }
    expect(lines).toHaveLength(3);
  });

  it('demuxDockerLogs concatenates stdout and stderr frames in order', () => {
    const buf = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, ''), frame(1, 'out 2\n')]);
    expect(demuxDockerLogs(buf).toString()).toBe('out 1\nerr 1\nout 2\n');
    expect(demuxDockerFrames(buf).frames).toBe(4);
    // A frame whose payload contains bytes that look like a header is not misread.
    const tricky = frame(1, Buffer.from([2, 0, 0, 0, 0, 0, 0, 1, 65]));
    expect([...demuxDockerLogs(tricky)]).toEqual([2, 0, 0, 0, 0, 0, 0, 1, 65]);
    // Large payloads (> 64 KiB, length uses all four bytes).
    const big = 'x'.repeat(200_000);
    expect(demuxDockerLogs(frame(2, big)).toString()).toBe(big);
    // Non-multiplexed (TTY) output passes through untouched.
    expect(demuxDockerLogs(Buffer.from('hello tty\n')).toString()).toBe('hello tty\n');
    expect(demuxDockerLogs(Buffer.alloc(0)).length).toBe(0);
  });

  it('TailReader: the same tail as demux + utf8Tail for every chunk split, holding at most maxBytes + a header', () => {
    const stream = Buffer.concat([frame(1, 'first line\n'), frame(2, 'é'.repeat(40) + '\n'), frame(1, 'x'.repeat(300)), frame(1, 'last\n')]);
    for (const max of [1, 7, 64, 200, 10_000]) {
      const want = utf8Tail(demuxDockerFrames(stream).payload, max);
      for (const size of [1, 3, 8, 9, 50, stream.length]) {
        const meter: TailMeter = { streamedBytes: 0, peakHeldBytes: 0 };
        const r = new TailReader(max, meter);
        for (let i = 0; i < stream.length; i += size) r.write(stream.subarray(i, i + size));
        expect(r.text(), `max ${max}, chunks of ${size}`).toBe(want);
        expect(r.frames).toBe(4);
        expect(meter.streamedBytes).toBe(stream.length);
        expect(meter.peakHeldBytes).toBeLessThanOrEqual(max + 8);
      }
    }
    // A TTY container's raw output is kept as is.
    const raw = new TailReader(4);
    raw.write(Buffer.from('hello '));
    raw.write(Buffer.from('tty\n'));
    expect(raw.text()).toBe('tty\n');
  });

  it('utf8Tail keeps the last bytes without a broken leading character', () => {
    const buf = Buffer.from('aé€😀z'); // 1 + 2 + 3 + 4 + 1 bytes
    expect(utf8Tail(buf, 100)).toBe('aé€😀z');
    expect(utf8Tail(buf, 5)).toBe('😀z');
    expect(utf8Tail(buf, 4)).toBe('z'); // cut inside the emoji: its continuation bytes dropped
    expect(utf8Tail(buf, 8)).toBe('€😀z');
    expect(utf8Tail(buf, 7)).toBe('😀z');
    expect(utf8Tail(buf, 0)).toBe('');
  });

  it('parseDockerTime maps the Go zero time to null', () => {
    expect(parseDockerTime('0001-01-01T00:00:00Z')).toBeNull();
    expect(parseDockerTime('')).toBeNull();
    expect(parseDockerTime('2024-05-01T10:11:12.123456789Z')?.toISOString()).toBe('2024-05-01T10:11:12.123Z');
  });

  it('mapDockerEvent maps die/kill/exec events', () => {
    const base = { Type: 'container', Actor: { ID: 'abc', Attributes: { 'warden.job': 'j1', exitCode: '3', signal: '15' } } };
    const die = mapDockerEvent({ ...base, Action: 'die', timeNano: 1_700_000_000_123_456_789 });
    expect(die).toMatchObject({ action: 'die', id: 'abc', exitCode: 3, signal: null });
    expect(die?.labels['warden.job']).toBe('j1');
    expect(die?.at.getTime()).toBe(1_700_000_000_123);
    expect(mapDockerEvent({ ...base, Action: 'kill' })).toMatchObject({ action: 'kill', signal: '15', exitCode: null });
    expect(mapDockerEvent({ ...base, Action: 'exec_start: sh -c echo hi' })?.action).toBe('exec_start');
    expect(mapDockerEvent({ Type: 'network', Action: 'connect', Actor: { ID: 'n' } })).toBeNull();
  });

  it('dockerOptionsFromHost understands unix, tcp and http forms', () => {
    expect(dockerOptionsFromHost(undefined)).toEqual({});
    expect(dockerOptionsFromHost('unix:///run/user/1000/docker.sock')).toMatchObject({
      socketPath: '/run/user/1000/docker.sock',
      host: undefined,
    });
    expect(dockerOptionsFromHost('tcp://10.0.0.5:2375')).toMatchObject({ host: '10.0.0.5', port: '2375', protocol: 'http' });
    expect(dockerOptionsFromHost('http://docker.internal:12375')).toMatchObject({
      host: 'docker.internal',
      port: '12375',
      protocol: 'http',
      socketPath: undefined,
    });
    expect(dockerOptionsFromHost('localhost:2375')).toMatchObject({ host: 'localhost', protocol: 'http' });
    expect(() => dockerOptionsFromHost('ftp://x')).toThrow(/scheme/);
  });
});

// ---------------------------------------------------------------------------------------------
// Events stream against a fake engine (line buffering, reconnect, since, dedupe)
// ---------------------------------------------------------------------------------------------

describe('events stream (fake engine on a unix socket)', () => {
  it('buffers split lines, reconnects with since, replays without duplicates, and closes cleanly', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-fake-docker-'));
    const sock = path.join(dir, 'docker.sock');
    const urls: string[] = [];
    const open = new Set<http.ServerResponse>();
    const ev = (id: string, action: string, nano: bigint, extra: Record<string, string> = {}) =>
      JSON.stringify({
        Type: 'container',
        Action: action,
        Actor: { ID: id, Attributes: { 'warden.managed': 'true', 'warden.job': `job-${id}`, name: 'é-name', ...extra } },
        time: Number(nano / 1_000_000_000n),
        timeNano: Number(nano),
      }) + '\n';
    const t1 = 1_700_000_000_500_000_000n;
    const t2 = 1_700_000_001_000_000_000n;
    const server = http.createServer((req, res) => {
      urls.push(req.url ?? '');
      if (!req.url?.startsWith('/events')) {
        res.writeHead(404).end('{"message":"not here"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (urls.length === 1) {
        // First connection: one event split mid-line and inside the multi-byte 'é', then the
        // engine "restarts" (stream ends).
        const line = Buffer.from(ev('c1', 'start', t1));
        const cut = line.indexOf(Buffer.from('é')) + 1;
        res.write(line.subarray(0, 10));
        setTimeout(() => res.write(line.subarray(10, cut)), 20);
        setTimeout(() => res.write(line.subarray(cut)), 40);
        setTimeout(() => res.end(), 80);
      } else {
        // Reconnect: replay the already-seen event (must be skipped), then a new one; stay open.
        open.add(res);
        res.on('close', () => open.delete(res));
        res.write(ev('c1', 'start', t1) + ev('c1', 'die', t2, { exitCode: '7' }));
      }
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const rt = createDockerRuntime({ dockerHost: `unix://${sock}` });
      const got: ContainerEvent[] = [];
      let reconnects = 0;
      const sub = rt.events(
        (e) => got.push(e),
        () => reconnects++,
      );
      await waitFor('two events', () => got.length >= 2);
      await waitFor('reconnect callback', () => reconnects === 1);
      expect(got.map((e) => [e.action, e.id, e.exitCode])).toEqual([
        ['start', 'c1', null],
        ['die', 'c1', 7],
      ]);
      expect(got[0]!.labels.name).toBe('é-name');
      expect(got[1]!.at.getTime()).toBe(1_700_000_001_000);
      // The first request carries the filters; the reconnect also resumes from the last event.
      const q1 = new URL(urls[0]!, 'http://x').searchParams;
      expect(JSON.parse(q1.get('filters')!)).toEqual({ type: ['container'], label: ['warden.managed=true'] });
      expect(q1.get('since')).toBeNull();
      expect(new URL(urls[1]!, 'http://x').searchParams.get('since')).toBe('1700000000.500000000');
      expect(urls).toHaveLength(2);
      sub.close();
      await waitFor('server to see the stream closed', () => open.size === 0);
      expect(rt.lastError()).toBeNull();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps retrying an unreachable engine without crashing and close() leaves no timers', async () => {
    const rt = createDockerRuntime({ dockerHost: 'unix:///tmp/warden-nonexistent-events.sock' });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const sub = rt.events(() => {});
    await waitFor('a recorded connection error', () => rt.lastError());
    expect(rt.lastError()).toMatch(/nonexistent-events\.sock/);
    await new Promise((r) => setTimeout(r, 700)); // let it go through at least one backoff cycle
    sub.close();
    sub.close(); // idempotent
    await new Promise((r) => setImmediate(r));
    expect(timers()).toBeLessThanOrEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Real engine
// ---------------------------------------------------------------------------------------------

describe.skipIf(!dockerAvailable())('DockerRuntime against the real engine', () => {
  const RUN = crypto.randomBytes(6).toString('hex');
  const rt = createDockerRuntime();
  /** Containers created without the warden.test label (so list() cannot find them for cleanup). */
  const unlabelled: string[] = [];
  let jobSeq = 0;

  const labels = (extra: Record<string, string> = {}) => ({
    'warden.managed': 'true',
    'warden.job': `test-${RUN}-${++jobSeq}`,
    'warden.test': RUN,
    ...extra,
  });

  const waitExited = (id: string, timeoutMs = 60_000) =>
    waitFor(`container ${id.slice(0, 12)} to exit`, async () => {
      const i = await rt.inspect(id);
      return i && !i.running && i.finishedAt ? i : null;
    }, timeoutMs);

  beforeAll(async () => {
    await rt.ensureImage(TEST_IMAGE);
  });

  afterAll(async () => {
    for (const c of await rt.list({ 'warden.test': RUN })) await rt.remove(c.id);
    for (const id of unlabelled) await rt.remove(id);
    execFileSync('docker', ['volume', 'prune', '-f', '--filter', `label=warden.test=${RUN}`], { stdio: 'ignore' });
    // Leak check: nothing this run created is left on the engine.
    expect(await rt.list({ 'warden.test': RUN })).toEqual([]);
    for (const id of unlabelled) expect(await rt.inspect(id)).toBeNull();
    const vols = execFileSync('docker', ['volume', 'ls', '-q', '--filter', `label=warden.test=${RUN}`]).toString().trim();
    expect(vols).toBe('');
  });

  it('ping is true and lastError is clear', async () => {
    expect(await rt.ping()).toBe(true);
    expect(rt.lastError()).toBeNull();
  });

  it('runs a container with labels and Init; SIGTERM stops a `sh -c` job promptly (143)', async () => {
    const l = labels();
    const id = await rt.run({ image: TEST_IMAGE, command: ['sh', '-c', 'sleep 600'], labels: l });
    const running = await rt.inspect(id);
    expect(running).toMatchObject({ id, running: true, status: 'running', exitCode: null, oomKilled: false, finishedAt: null });
    expect(running!.labels).toMatchObject(l);
    expect(running!.startedAt).toBeInstanceOf(Date);

    expect(await rt.kill(id, 'SIGTERM')).toBe(true);
    // Without Init, sh as PID 1 ignores SIGTERM: it would run its full 10 minutes, this wait
    // would time out, and the exit code would not be 143 (128 + SIGTERM).
    const done = await waitExited(id, 60_000);
    expect(done.exitCode).toBe(143);
    expect(done.status).toBe('exited');
    expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(done.startedAt!.getTime());

    // Already stopped, then gone: kill reports "nothing to do".
    expect(await rt.kill(id, 'SIGKILL')).toBe(false);
    await rt.remove(id);
    await rt.remove(id); // idempotent
    expect(await rt.inspect(id)).toBeNull();
    expect(await rt.kill(id, 'SIGTERM')).toBe(false);
    await rt.remove('0123456789abcdef-no-such-container');
    expect(await rt.inspect('0123456789abcdef-no-such-container')).toBeNull();
  });

  it('uses the image default command and env when none is given', async () => {
    const id = await rt.run({ image: TEST_IMAGE, command: ['sh', '-c', 'echo "$GREETING $PATH"'], env: { GREETING: 'hi there' }, labels: labels() });
    await waitExited(id);
    expect(await rt.logsTail(id)).toBe('hi there /bin\n');
    // Default CMD of the test image is /bin/sh, which exits at once without a stdin.
    const def = await rt.run({ image: TEST_IMAGE, command: null, labels: labels() });
    expect((await waitExited(def)).exitCode).toBe(0);
  });

  it('lists only containers matching all label filters, with clean names', async () => {
    const name = `warden-test-${RUN}-listed`;
    const l = labels();
    const listed = await rt.run({ image: TEST_IMAGE, name, command: ['sleep', '30'], labels: l });
    const other = await rt.run({ image: TEST_IMAGE, command: ['sleep', '30'], labels: {} });
    unlabelled.push(other);

    const managed = await rt.list({ 'warden.managed': 'true', 'warden.test': RUN });
    const ids = managed.map((c) => c.id);
    expect(ids).toContain(listed);
    expect(ids).not.toContain(other);

    const one = await rt.list({ 'warden.job': l['warden.job'] });
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ id: listed, name, state: 'running' });
    expect(one[0]!.labels).toMatchObject(l);
    expect(Math.abs(one[0]!.createdAt.getTime() - Date.now())).toBeLessThan(60_000);

    await rt.remove(other);
    await rt.remove(listed);
    expect(await rt.list({ 'warden.job': l['warden.job'] })).toEqual([]);
  });

  it('logsTail returns stdout+stderr and truncates to maxBytes at the end', async () => {
    const small = await rt.run({
      image: TEST_IMAGE,
      command: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; echo again-stdout'],
      labels: labels(),
    });
    await waitExited(small);
    const text = await rt.logsTail(small);
    expect(text).toContain('to-stdout\n');
    expect(text).toContain('to-stderr\n');
    expect(text).toContain('again-stdout\n');

    // ~150 KB in 2501 lines: more than both the byte cap and the first line batch.
    const big = await rt.run({
      image: TEST_IMAGE,
      command: [
        'sh',
        '-c',
        'i=0; while [ $i -lt 2500 ]; do echo "line-$i-..................................................."; i=$((i+1)); done; echo LAST-LINE',
      ],
      labels: labels(),
    });
    await waitExited(big);
    const tail = await rt.logsTail(big);
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(LOG_TAIL_BYTES);
    expect(Buffer.byteLength(tail)).toBeGreaterThan(LOG_TAIL_BYTES - 100);
    expect(tail.endsWith('line-2499-...................................................\nLAST-LINE\n')).toBe(true);
    expect(tail).not.toContain('line-0-');

    // Many short lines: the first 2000-line batch is far below the byte cap, so all are kept.
    const many = await rt.run({
      image: TEST_IMAGE,
      command: ['sh', '-c', 'i=0; while [ $i -lt 5000 ]; do echo $i; i=$((i+1)); done'],
      labels: labels(),
    });
    await waitExited(many);
    const lines = (await rt.logsTail(many)).trimEnd().split('\n');
    expect(lines).toHaveLength(5000);
    expect(lines[0]).toBe('0');
    expect(lines[4999]).toBe('4999');

    // Multi-byte output cut at a byte budget never starts with a broken character.
    const utf = await rt.run({ image: TEST_IMAGE, command: ['sh', '-c', 'echo "ééééé"'], labels: labels() });
    await waitExited(utf);
    expect(await rt.logsTail(utf, 6)).toBe('éé\n'); // 6 bytes = "\xa9" + "éé\n" → dropped byte
    expect(await rt.logsTail('no-such-container-for-logs')).toBe('');
  });

  it('logsTail of 12 KB lines: the last 64 KiB, read through a fixed buffer (the reader never holds more than 64 KiB + a header)', async () => {
    // 400 lines of 12,006 bytes: 4.8 MB of log. The old read loaded `--tail 2000` whole.
    const wide = await rt.run({
      image: TEST_IMAGE,
      command: ['sh', '-c', 'i=0; while [ $i -lt 400 ]; do printf "%05d" $i; head -c 12000 /dev/zero | tr "\\0" x; echo; i=$((i+1)); done; echo END'],
      labels: labels(),
    });
    await waitExited(wide);
    const meter: TailMeter = { streamedBytes: 0, peakHeldBytes: 0 };
    const tail = await rt.logsTail(wide, LOG_TAIL_BYTES, meter);
    expect(Buffer.byteLength(tail)).toBe(LOG_TAIL_BYTES);
    expect(tail.endsWith(`00399${'x'.repeat(12000)}\nEND\n`)).toBe(true);
    expect(tail).not.toContain('00393');
    // The bytes went through the reader (more than it returns) while it held at most the tail.
    expect(meter.streamedBytes).toBeGreaterThan(2 * LOG_TAIL_BYTES);
    expect(meter.peakHeldBytes).toBeLessThanOrEqual(LOG_TAIL_BYTES + 8);
    // And it did not fetch the 2000-line tail: a few lines were enough.
    expect(meter.streamedBytes).toBeLessThan(1024 * 1024);
  });

  it('ensureImage on a missing image throws ImageUnavailableError naming it; run never pulls and creates nothing', async () => {
    const image = 'warden-test/does-not-exist:nope';
    const [a, b] = await Promise.allSettled([rt.ensureImage(image), rt.ensureImage(image)]);
    for (const r of [a, b]) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as unknown;
      expect(err).toBeInstanceOf(ImageUnavailableError);
      expect((err as ImageUnavailableError).image).toBe(image);
      expect((err as Error).message).toContain(image);
    }
    const l = labels();
    expect(await rt.hasImage(image)).toBe(false);
    await expect(rt.run({ image, command: ['true'], labels: l })).rejects.toBeInstanceOf(ImageNotPresentError);
    expect(await rt.list({ 'warden.job': l['warden.job'] })).toEqual([]);
    expect(rt.lastError()).toBeNull(); // the engine answered; a bad image is not an engine problem
  });

  it('delivers start and die (with exit code) events for managed containers', async () => {
    const got: ContainerEvent[] = [];
    const sub = rt.events((e) => got.push(e));
    try {
      // The subscription connects asynchronously; prove it is live with a throwaway container
      // before starting the one under test (no fixed sleep).
      const warm = await rt.run({ image: TEST_IMAGE, command: ['true'], labels: labels() });
      await waitFor('events stream to be live', () => got.some((e) => e.id === warm));

      const l = labels();
      const id = await rt.run({ image: TEST_IMAGE, command: ['sh', '-c', 'exit 3'], labels: l });
      const die = await waitFor('die event', () => got.find((e) => e.id === id && e.action === 'die'));
      expect(got.find((e) => e.id === id && e.action === 'start')).toBeTruthy();
      expect(die.exitCode).toBe(3);
      expect(die.labels['warden.job']).toBe(l['warden.job']);
      expect(Math.abs(die.at.getTime() - Date.now())).toBeLessThan(60_000);

      // Unmanaged containers are filtered out by the engine.
      const unmanaged = await rt.run({ image: TEST_IMAGE, command: ['true'], labels: {} });
      unlabelled.push(unmanaged);
      const marker = await rt.run({ image: TEST_IMAGE, command: ['true'], labels: labels() });
      await waitFor('marker die event', () => got.some((e) => e.id === marker && e.action === 'die'));
      expect(got.some((e) => e.id === unmanaged)).toBe(false);
    } finally {
      sub.close();
    }
  });

  it('applies memory and cpu caps (and Init) to the container', async () => {
    const id = await rt.run({ image: TEST_IMAGE, command: ['sleep', '30'], labels: labels(), memoryMb: 64, cpus: 0.5 });
    const hc = JSON.parse(execFileSync('docker', ['inspect', '--format', '{{json .HostConfig}}', id]).toString()) as {
      Memory: number;
      NanoCpus: number;
      Init: boolean;
      AutoRemove: boolean;
    };
    expect(hc).toMatchObject({ Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, Init: true, AutoRemove: false });
    await rt.remove(id);
  });

  it('removes labelled volumes; in-use volumes are reported, gone ones are fine', async () => {
    const key = `vol-${RUN}`;
    const mk = (name: string) =>
      execFileSync('docker', ['volume', 'create', '--label', `warden.job=${key}`, '--label', `warden.test=${RUN}`, name], { stdio: 'ignore' });
    mk(`warden-test-${RUN}-a`);
    mk(`warden-test-${RUN}-b`);
    expect(await rt.removeVolumesByLabel('warden.job', key)).toBe(2);
    expect(await rt.removeVolumesByLabel('warden.job', key)).toBe(0);

    mk(`warden-test-${RUN}-busy`);
    const user = execFileSync('docker', [
      'create', '--label', 'warden.managed=true', '--label', `warden.test=${RUN}`,
      '-v', `warden-test-${RUN}-busy:/data`, TEST_IMAGE, 'true',
    ]).toString().trim();
    await expect(rt.removeVolumesByLabel('warden.job', key)).rejects.toThrow(/in use/);
    await rt.remove(user);
    expect(await rt.removeVolumesByLabel('warden.job', key)).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// No engine
// ---------------------------------------------------------------------------------------------

describe('DockerRuntime with no engine', () => {
  it('reports unavailability without throwing from ping, and rejects calls', async () => {
    const rt = createDockerRuntime({ dockerHost: 'unix:///tmp/nonexistent.sock' });
    expect(rt.lastError()).toBeNull();
    expect(await rt.ping()).toBe(false);
    expect(rt.lastError()).toMatch(/nonexistent\.sock/);
    await expect(rt.list({ 'warden.managed': 'true' })).rejects.toBeInstanceOf(DockerUnavailableError);
    await expect(rt.inspect('x')).rejects.toBeInstanceOf(DockerUnavailableError);
    await expect(rt.kill('x', 'SIGTERM')).rejects.toBeInstanceOf(DockerUnavailableError);
    // Not an image problem: the engine is down, so the job should wait, not fail.
    await expect(rt.ensureImage(TEST_IMAGE)).rejects.toBeInstanceOf(DockerUnavailableError);
    expect(rt.lastError()).toMatch(/ENOENT|ECONNREFUSED/);
  });

  it('ping gives up (false, "did not answer") on an engine that accepts but never answers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-hung-docker-'));
    const sock = path.join(dir, 'docker.sock');
    const server = http.createServer(() => {}); // never responds
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const rt = createDockerRuntime({ dockerHost: `unix://${sock}` });
      // It returns at all (its own ~2 s limit; the test's timeout is the generous bound), and says why.
      expect(await rt.ping()).toBe(false);
      expect(rt.lastError()).toMatch(/did not answer/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
