import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanCell, duration, outputFormat, table } from '../bin/cli-common';
import { changesJobs, describeState, exitCodeFor } from '../bin/jobs-cli';
import type { Job } from '../client';
import { until } from './helpers/warden-server';

/** The CLI's pure parts: output format defaults, table cells, state lines, exit codes, watch topics. */

describe('outputFormat: -o json|table|wide', () => {
  const cases: [o: string | undefined, table: boolean | undefined, tty: boolean, want: string][] = [
    [undefined, undefined, true, 'table'],
    [undefined, undefined, false, 'json'],
    [undefined, true, false, 'table'],
    ['json', undefined, true, 'json'],
    ['wide', undefined, false, 'wide'],
    ['table', undefined, false, 'table'],
  ];
  it.each(cases)('-o %s --table %s on a terminal %s → %s', (o, t, tty, want) => expect(outputFormat(o, t, tty)).toBe(want));
  it('names the valid formats for a bad one', () => expect(() => outputFormat('yaml', undefined, true)).toThrow(/unknown output format yaml: use json, table, wide/));
});

describe('table cells', () => {
  it('strip C0/C1 controls, DEL, bidi overrides and zero-width marks; tabs and newlines become a space', () => {
    expect(cleanCell('a\u001b[31mb\u0007\u0008c\u009bd\u007fe\u202ef\u200bg\u2066h\ufeffi')).toBe('a[31mbcdefghi');
    expect(cleanCell('two\nlines\tand\r\ntabs')).toBe('two lines and tabs');
    expect(cleanCell(null)).toBe('-');
    expect(cleanCell('')).toBe('-');
  });
  it('pad columns, cut long cells with an ellipsis', () => {
    const out = table([{ id: 'a', name: 'x'.repeat(80) }, { id: 'bbb', name: 'y' }], ['id', 'name']).split('\n');
    expect(out[0]).toBe('ID   NAME');
    expect(out[1]).toBe(`a    ${'x'.repeat(59)}…`);
    expect(out[2]).toBe('bbb  y');
  });
  it('durations as kubectl shows ages', () => {
    expect([0, 42_000, 312_000, 3 * 3600_000 + 4 * 60_000, 2 * 86400_000 + 5 * 3600_000, 86400_000].map(duration)).toEqual(['0s', '42s', '5m12s', '3h4m', '2d5h', '1d']);
  });
});

const job = (j: Partial<Job>): Job => ({ id: 'j', status: 'queued', exitCode: null, reason: null, timeoutSeconds: 60, extendedSeconds: 0, ...j }) as Job;

describe('submit --wait: state lines and exit codes', () => {
  it('tells where a job is', () => {
    expect(describeState(job({ status: 'queued', queuePosition: 2, waitReason: 'Waiting: plan limit (1 running of 1)' }))).toBe('queued (#2: plan limit (1 running of 1))');
    expect(describeState(job({ status: 'running', node: 'node-a', deadlineAt: null }))).toBe('running on node-a');
    expect(describeState(job({ status: 'timed_out', timeoutSeconds: 60, extendedSeconds: 30 }))).toBe('timed out after 90s');
    expect(describeState(job({ status: 'failed', exitCode: 3 }))).toBe('failed with exit code 3');
  });
  it('exits like timeout(1)', () => {
    const cases: [Job['status'], number | null, number][] = [
      ['succeeded', 0, 0],
      ['failed', 3, 3],
      ['failed', -1, 125],
      ['failed', null, 125],
      ['timed_out', -1, 124],
      ['killed', -1, 137],
      ['cancelled', null, 130],
      ['lost', null, 125],
    ];
    for (const [status, exitCode, want] of cases) expect(exitCodeFor({ status, exitCode }), `${status} ${exitCode}`).toBe(want);
  });
});

describe('list --watch: which pushed topics make it read the list again', () => {
  it('job changes, submissions and "everything"; not node heartbeats or sweeper runs', () => {
    expect(changesJobs(['job:76ea2f6c-0000-4000-8000-000000000001:running'])).toBe(true);
    expect(changesJobs(['jobs'])).toBe(true);
    expect(changesJobs(['*'])).toBe(true);
    expect(changesJobs(['node', 'sweeper'])).toBe(false);
    expect(changesJobs([])).toBe(false);
  });
});

describe('list --watch against a server without the event stream (a stub HTTP server)', () => {
  const REPO = path.resolve(__dirname, '..');
  const stub = async (eventsStatus: number) => {
    const seen = { lists: 0, streams: 0 };
    const server = http.createServer((req, res) => {
      const p = (req.url ?? '').split('?')[0];
      if (p === '/api/v1/events') {
        seen.streams++;
        res.writeHead(eventsStatus, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ error: { code: eventsStatus === 401 ? 'unknown_key' : 'not_found', message: 'no' } }));
      }
      seen.lists++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jobs: [], nextCursor: null }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
  };
  const watch = (url: string) => {
    const child = spawn(process.execPath, ['bin/warden.mjs', 'jobs', 'list', '--watch', '-o', 'json'], { cwd: REPO, env: { ...process.env, WARDEN_URL: url, WARDEN_API_KEY: 'wd_u_test' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '', code: null as number | null, done: false };
    child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString()));
    child.on('close', (code) => Object.assign(out, { code, done: true }));
    return { out, child };
  };

  it('falls back to polling (said once on stderr) and keeps printing the page', async () => {
    const s = await stub(404);
    const w = watch(s.url);
    try {
      await until('the fallback note and the first page', async () => w.out.stderr.includes('warden: no event stream from this server (HTTP 404 not_found); polling every 2 s') && w.out.stdout.includes('{"jobs":[]'), 60_000, 100);
      await until('a second read by polling', async () => s.seen.lists >= 2 && s.seen.streams >= 2, 60_000, 100);
      expect(w.out.stderr.match(/no event stream/g)).toHaveLength(1);
      expect(w.out.stdout.trim().split('\n')).toHaveLength(1); // printed on change only
    } finally {
      w.child.kill('SIGINT');
      await until('the watch to end', async () => w.out.done, 30_000, 100);
      await s.close();
    }
  }, 120_000);

  it('a refused key ends it with the API error and exit 1', async () => {
    const s = await stub(401);
    const w = watch(s.url);
    try {
      await until('the watch to end', async () => w.out.done, 60_000, 100);
      expect(w.out.code).toBe(1);
      expect(JSON.parse(w.out.stderr.trim().split('\n').pop()!)).toMatchObject({ error: { code: 'unknown_key' } });
      expect(s.seen.lists).toBe(0);
    } finally {
      await s.close();
    }
  }, 120_000);
});
