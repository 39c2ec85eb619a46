import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// This file checks the default rule: WARDEN_REGISTRIES unset (config() is read once per process).
delete process.env.WARDEN_REGISTRIES;

import { collapseTimeline, type TimelineEvent } from '../components/lib/timeline';
import { ConfigError, parseConfig } from '../server/config';
import { classifyPullError } from '../server/docker/runtime';
import { ImageUnavailableError, PULL_REASON_MAX } from '../server/docker/types';
import { isPublicAddress, isReservedAddress } from '../server/domain/addresses';
import { imageRegistry, parseRegistryRules, registryRefusal, ruleAllows } from '../server/domain/registry-policy';
import { backoffFor, PULL_BACKOFF, PULL_TRIES } from '../server/domain/side-effects';
import { checkWebhookUrl } from '../server/domain/webhook-url';
import { pullRetryDelay } from '../server/worker/start';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * The registry policy (WARDEN_REGISTRIES), pure, table-driven; then the submit route on a real
 * PostgreSQL with the setting unset: a refused registry is a 422 naming it and the setting, and
 * nothing is written. The pulls themselves, on the real engine, are test/hosts.registry.test.ts.
 */

describe('imageRegistry: Docker\'s own rule for the registry part', () => {
  it.each([
    ['alpine', 'docker.io', true],
    ['alpine:3.20', 'docker.io', true],
    ['library/alpine', 'docker.io', true],
    ['team/tool:1', 'docker.io', true],
    ['docker.io/library/alpine', 'docker.io', true],
    ['index.docker.io/library/alpine', 'docker.io', true],
    ['registry.example.com/team/tool:1', 'registry.example.com', false],
    ['registry.example.com:5000/team/tool', 'registry.example.com:5000', false],
    ['localhost/x', 'localhost', false],
    ['localhost:5000/x', 'localhost:5000', false],
    ['127.0.0.1:1/x:1', '127.0.0.1:1', false],
    ['vm:5000/x', 'vm:5000', false],
  ])('%s → %s', (image, name, hub) => {
    expect(imageRegistry(image)).toMatchObject({ name, hub });
  });
});

describe('WARDEN_REGISTRIES: the allowlist', () => {
  const allows = (setting: string, image: string) => parseRegistryRules(setting)!.some((r) => ruleAllows(r, imageRegistry(image)));
  it.each([
    // setting, image, allowed
    ['*', '127.0.0.1:1/x', true],
    ['*', 'alpine', true],
    ['docker.io', 'alpine', true],
    ['docker.io', 'library/alpine:3', true],
    ['docker.io', 'index.docker.io/library/alpine', true],
    ['docker.io', 'registry.example.com/x', false],
    ['registry.example.com', 'alpine', false],
    ['registry.example.com', 'registry.example.com/x', true],
    ['registry.example.com', 'registry.example.com:5000/x', true], // no port: any port
    ['registry.example.com:5000', 'registry.example.com:5000/x', true],
    ['registry.example.com:5000', 'registry.example.com:5001/x', false],
    ['registry.example.com:5000', 'registry.example.com/x', false],
    ['*.example.com', 'registry.example.com/x', true],
    ['*.example.com', 'a.b.example.com:443/x', true],
    ['*.example.com', 'example.com/x', false],
    ['*.example.com', 'evilexample.com/x', false],
    ['*.example.com', 'registry.example.com.evil.net/x', false],
    ['*.example.com:5000', 'registry.example.com:5000/x', true],
    ['*.example.com:5000', 'registry.example.com/x', false],
    ['*.example.com', 'alpine', false],
    [' Registry.Example.com , docker.io ', 'registry.example.com/x', true],
    [' Registry.Example.com , docker.io ', 'busybox', true],
    ['127.0.0.1', '127.0.0.1:1/x:1', true],
    ['10.0.0.5:5000', '10.0.0.5:5000/x', true],
    ['10.0.0.5:5000', '10.0.0.6:5000/x', false],
  ])('%j allows %s: %s', (setting, image, want) => {
    expect(allows(setting, image)).toBe(want);
  });

  it('unset or blank is the default rule; a bad entry stops start-up naming the setting', () => {
    expect(parseConfig({}).WARDEN_REGISTRIES).toBeNull();
    expect(parseConfig({ WARDEN_REGISTRIES: ' ' }).WARDEN_REGISTRIES).toBeNull();
    expect(parseConfig({ WARDEN_REGISTRIES: 'docker.io,*.example.com' }).WARDEN_REGISTRIES).toHaveLength(2);
    for (const bad of ['http://registry.example.com', 'registry.example.com/path', 'a.com:99999', '*example.com', 'ex ample.com', '**.a.com']) {
      expect(() => parseConfig({ WARDEN_REGISTRIES: bad }), bad).toThrow(ConfigError);
      expect(() => parseConfig({ WARDEN_REGISTRIES: bad }), bad).toThrow(/WARDEN_REGISTRIES/);
    }
  });
});

describe('the default rule (WARDEN_REGISTRIES unset)', () => {
  /** A resolver that knows a few names and nothing else. */
  const dnsTable: Record<string, string[]> = {
    'public.example.com': ['93.184.216.34'],
    'private.example.com': ['93.184.216.34', '10.1.2.3'],
    'metadata.example.com': ['169.254.169.254'],
    'loop6.example.com': ['::1'],
    'ula.example.com': ['fd12:3456::1'],
    'compat.example.com': ['::7f00:1'],
  };
  const resolve = async (h: string) => {
    const a = dnsTable[h];
    if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${h}`), { code: 'ENOTFOUND' });
    return a;
  };
  const refusal = (image: string) => registryRefusal(image, { rules: null, resolve });

  it.each([
    ['alpine:3.20', null],
    ['public.example.com/x', null],
    ['nowhere.example.com/x', null], // does not resolve: the pull fails on its own
    ['127.0.0.1:1/x', /registry 127\.0\.0\.1:1 is an IP address.*WARDEN_REGISTRIES/],
    ['10.0.0.1:5000/x', /is an IP address/],
    ['8.8.8.8:5000/x', /is an IP address/], // any literal: no scanning by address
    ['2130706433:5000/x', /is an IP address/],
    ['0x7f000001:5000/x', /is an IP address/],
    ['127.1:5000/x', /is an IP address/],
    ['localhost/x', /registry localhost is a local name/],
    ['localhost:5000/x', /is a local name/],
    ['registry.corp.internal/x', /registry registry\.corp\.internal is a local name.*WARDEN_REGISTRIES/],
    ['printer.local:80/x', /is a local name/],
    ['a.localhost/x', /is a local name/],
    ['private.example.com/x', /resolves to 10\.1\.2\.3, a loopback, private or link-local address.*WARDEN_REGISTRIES/],
    ['metadata.example.com/x', /resolves to 169\.254\.169\.254/],
    ['loop6.example.com/x', /resolves to ::1/],
    ['ula.example.com/x', /resolves to fd12:3456::1/],
    ['compat.example.com/x', /resolves to ::7f00:1/],
  ])('%s → %s', async (image, want) => {
    const r = await refusal(image);
    if (want === null) expect(r).toBeNull();
    else expect(r).toMatch(want);
  });

  it('a resolver that hangs costs the submit at most the timeout, then the pull decides', async () => {
    const r = await registryRefusal('slow.example.com/x', { rules: null, resolve: () => new Promise(() => {}), timeoutMs: 50 });
    expect(r).toBeNull();
  });
});

describe('reserved addresses: one rule for webhooks and registries', () => {
  it.each([
    ['8.8.8.8', false],
    ['93.184.216.34', false],
    ['2606:4700:4700::1111', false],
    ['127.0.0.1', true],
    ['10.0.0.1', true],
    ['172.17.0.1', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fd00::1', true],
    ['::ffff:127.0.0.1', true],
    // IPv4-compatible IPv6 (::/96): ipaddr.js calls it unicast, Warden does not.
    ['::7f00:1', true],
    ['::a00:1', true],
    ['::8.8.8.8', true],
    ['not an address', true],
  ])('%s reserved: %s', (ip, reserved) => {
    expect(isReservedAddress(ip)).toBe(reserved);
    expect(isPublicAddress(ip)).toBe(!reserved);
  });

  it('a webhook at [::7f00:1] is refused like one at 127.0.0.1', async () => {
    await expect(checkWebhookUrl('http://[::7f00:1]:8080/hook', { allowPrivate: false })).rejects.toMatchObject({ status: 422, code: 'url_not_allowed' });
  });
});

describe('pull failures: classified by cause, short, never the registry\'s words', () => {
  const html = `<html><body>${'SECRET '.repeat(1500)}</body></html>`;
  it.each([
    ['Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', 'refused', 'the registry refused the connection'],
    ['Get "https://nosuch.invalid/v2/": dial tcp: lookup nosuch.invalid on 10.255.255.53:53: no such host', 'unresolvable', "the registry's name does not resolve"],
    [`error parsing HTTP 404 response body: invalid character '<' looking for beginning of value: "${html}"`, 'http_error', "the registry answered HTTP 404 with something that is not a registry's answer"],
    // A body that says "connection refused" is still a body.
    [`error parsing HTTP 502 response body: invalid character '<': "<p>connection refused</p>"`, 'http_error', "the registry answered HTTP 502 with something that is not a registry's answer"],
    ['received unexpected HTTP status: 500 Internal Server Error', 'http_error', 'the registry answered HTTP 500'],
    ['manifest unknown: manifest unknown', 'not_found', 'the registry has no such image (not found)'],
    ['pull access denied for x, repository does not exist or may require \'docker login\'', 'not_found', 'the registry has no such image (not found)'],
    ['unauthorized: authentication required', 'denied', 'the registry refused access (authentication required or denied)'],
    ['Get "https://r.example.com/v2/": net/http: TLS handshake timeout', 'no_answer', 'the registry did not answer (timeout, reset or unreachable)'],
    [`something new: "${html}"`, 'other', "the engine could not pull it (its error is in the worker's log)"],
  ])('%#: %s', (message, failure, why) => {
    expect(classifyPullError(message)).toEqual({ failure, why });
  });

  it('a reason is at most 300 characters, whatever the image name', () => {
    const image = `registry.example.com/${'a'.repeat(230)}:1`;
    const e = new ImageUnavailableError(image, classifyPullError('connect: connection refused').why, 'refused');
    expect(e.message.length).toBeLessThanOrEqual(PULL_REASON_MAX);
    expect(e.message).toMatch(/^image registry\.example\.com\/a+\.\.\. could not be pulled: the registry refused the connection$/);
    expect(new ImageUnavailableError('127.0.0.1:1/x:1', 'the registry refused the connection', 'refused').message).toBe('image 127.0.0.1:1/x:1 could not be pulled: the registry refused the connection');
  });

  it('retries: 3 tries within about a minute for failures that may pass; none for the others', () => {
    const retry = { tries: PULL_TRIES, curve: PULL_BACKOFF };
    const err = (f: ConstructorParameters<typeof ImageUnavailableError>[2]) => new ImageUnavailableError('r.example.com/x', 'why', f);
    for (const f of ['refused', 'unresolvable', 'http_error', 'no_answer'] as const) {
      // Worst case of the jitter: every wait at its longest.
      const waits = [1, 2].map((t) => pullRetryDelay(err(f), t, retry, () => 0.999999));
      expect(waits.every((w) => w !== null && w > 0)).toBe(true);
      expect(waits.reduce((a, b) => a! + b!, 0)!).toBeLessThanOrEqual(40_000);
      expect(pullRetryDelay(err(f), PULL_TRIES, retry)).toBeNull();
    }
    for (const f of ['not_found', 'denied', 'deadline', 'policy', 'other'] as const) expect(pullRetryDelay(err(f), 1, retry)).toBeNull();
    expect(pullRetryDelay(new Error('engine'), 1, retry)).toBeNull();
    expect(PULL_TRIES).toBe(3);
    expect(backoffFor(PULL_BACKOFF, 1, () => 0.5)).toBe(10_000);
    expect(backoffFor(PULL_BACKOFF, 2, () => 0.5)).toBe(20_000);
  });
});

describe('the job timeline collapses repeats into ×N', () => {
  let id = 0;
  const ev = (action: string, o: Partial<TimelineEvent> = {}): TimelineEvent => ({ id: ++id, action, actor: 'dispatcher', reason: null, error: null, success: true, ...o });
  const shape = (evs: TimelineEvent[]) => collapseTimeline(evs).map((g) => `${g.events.map((e) => e.action).join('+')}×${g.count}`);

  it.each([
    ['nothing', [], []],
    ['no repeats', [ev('job.submit'), ev('job.claim'), ev('container.start')], ['job.submit×1', 'job.claim×1', 'container.start×1']],
    ['one event repeated', [ev('job.submit'), ...Array.from({ length: 5 }, () => ev('job.pull_retry', { success: false, error: 'x' })), ev('job.start_failed')], ['job.submit×1', 'job.pull_retry×5', 'job.start_failed×1']],
    [
      'a claim/requeue loop (pairs taking turns)',
      [ev('job.submit'), ...Array.from({ length: 799 }, () => [ev('job.claim'), ev('job.requeue', { success: false, reason: 'Docker engine unreachable' })]).flat(), ev('job.cancel')],
      ['job.submit×1', 'job.claim+job.requeue×799', 'job.cancel×1'],
    ],
    ['different reasons are different events', [ev('a', { reason: 'r1' }), ev('a', { reason: 'r2' })], ['a×1', 'a×1']],
    ['different outcomes are different events', [ev('a'), ev('a', { success: false })], ['a×1', 'a×1']],
    ['a pair seen once is not collapsed', [ev('a'), ev('b'), ev('a')], ['a×1', 'b×1', 'a×1']],
  ])('%s', (_name, events, want) => {
    expect(shape(events)).toEqual(want);
  });
});

describe('submit with the setting unset (real PostgreSQL)', () => {
  let h: ApiHarness;
  let jobsRoute: { POST: Handler };
  let usersRoute: { POST: Handler };
  let key: string;

  beforeAll(async () => {
    h = await setupApi();
    jobsRoute = (await import('../app/api/v1/jobs/route')) as unknown as typeof jobsRoute;
    usersRoute = (await import('../app/api/v1/users/route')) as unknown as typeof usersRoute;
    const r = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: 'reg-user', plan: 'free' } });
    expect(r.status).toBe(201);
    key = r.json.apiKey;
  });
  afterAll(async () => {
    await h?.close();
  });

  it.each([
    ['127.0.0.1:3999/probe:1', '127.0.0.1:3999'],
    ['172.17.0.1:8080/scan:1', '172.17.0.1:8080'],
    ['10.0.0.7:5000/x:1', '10.0.0.7:5000'],
    ['localhost:5000/x', 'localhost:5000'],
    ['registry.corp.internal/team/tool:1', 'registry.corp.internal'],
    ['printer.local/x', 'printer.local'],
  ])('%s: 422 naming the registry and WARDEN_REGISTRIES; nothing written', async (image, registry) => {
    const before = await counts(h.db);
    const r = await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key, body: { image, command: ['true'] } });
    expectError(r, 422, 'registry_not_allowed', 'image');
    expect(r.json.error.message).toContain(`registry ${registry} `);
    expect(r.json.error.message).toContain('WARDEN_REGISTRIES');
    expect(await counts(h.db)).toEqual(before);
  });

  it('Docker Hub images and public registry names are accepted', async () => {
    for (const image of ['alpine:3.20', 'library/busybox', 'docker.io/library/alpine']) {
      const r = await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key, body: { image } });
      expect(r.status, r.text).toBe(201);
    }
  });
});
