import { describe, expect, it } from 'vitest';
import type { Job } from '../server/db/schema';
import { quotaResetsAt } from '../server/domain/me';
import { describeWait, type QueueInfo } from '../server/domain/queue';
import { backoffFor, SIDE_EFFECT_BACKOFF, WEBHOOK_BACKOFF } from '../server/domain/side-effects';
import { webhookEventFor, WEBHOOK_EVENTS } from '../server/domain/webhook-events';
import { checkWebhookUrl, isPublicAddress, parseWebhookUrl } from '../server/domain/webhook-url';
import { signatureHeader } from '../server/domain/webhooks';

/** The pure parts of webhooks, waits and /me, table-tested without a database. */

const AT = new Date('2026-03-10T12:00:00.000Z');
const JOB = '11111111-2222-4333-8444-555555555555';

describe('audit action → webhook event', () => {
  const ev = (action: string, o: { success?: boolean; details?: Record<string, unknown>; reason?: string; targetType?: string } = {}) =>
    webhookEventFor({ action, targetType: o.targetType ?? 'job', targetId: JOB, success: o.success, reason: o.reason ?? null, details: o.details, at: AT });
  it.each([
    ['container.start', 'job.started'],
    ['job.warn', 'job.warning'],
    ['job.timeout', 'job.terminating'],
    ['job.idle_timeout', 'job.terminating'],
    ['job.kill', 'job.terminating'],
    ['job.terminate_requested', 'job.terminating'],
    ['job.timed_out', 'job.timed_out'],
    ['job.killed', 'job.killed'],
    ['job.succeeded', 'job.succeeded'],
    ['job.failed', 'job.failed'],
    ['job.start_failed', 'job.failed'],
    ['job.lost', 'job.lost'],
    ['job.retry', 'job.retried'],
    ['job.cancel', 'job.cancelled'],
  ])('%s → %s', (action, type) => {
    expect(ev(action)?.type).toBe(type);
  });
  it('every event type has an audit action that produces it', () => {
    const produced = new Set(['container.start', 'job.warn', 'job.timeout', 'job.timed_out', 'job.killed', 'job.succeeded', 'job.failed', 'job.lost', 'job.retry', 'job.cancel'].map((a) => ev(a)!.type));
    expect([...produced].sort()).toEqual([...WEBHOOK_EVENTS].sort());
  });
  it.each([
    ['a failed step', 'container.start', { success: false }],
    ['a force upgrade of a terminating job', 'job.kill', { details: { upgrade: true, force: true } }],
    ['a non-job target', 'job.cancel', { targetType: 'plan' }],
    ['bookkeeping', 'job.claim', {}],
    ['a signal', 'container.sigterm', {}],
    ['an extend', 'job.extend', {}],
  ])('no event for %s', (_n, action, o) => {
    expect(ev(action, o as never)).toBeNull();
  });
  it('job.started only when the job is running in the same transaction; warning carries deadlineAt and secondsLeft', () => {
    expect(ev('container.start')).toMatchObject({ requireStatus: 'running' });
    expect(ev('job.warn', { details: { deadlineAt: '2026-03-10T12:00:42.400Z' } })).toMatchObject({ data: { deadlineAt: '2026-03-10T12:00:42.400Z', secondsLeft: 42 } });
    expect(ev('job.idle_timeout', { reason: 'Idle: no output for 60s' })).toMatchObject({ data: { kind: 'timeout', reason: 'Idle: no output for 60s' } });
    expect(ev('job.terminate_requested', { details: { kind: 'parent' }, reason: 'Parent job p ended' })).toMatchObject({ data: { kind: 'parent', reason: 'Parent job p ended' } });
    expect(ev('job.lost', { details: { retry: true, attempt: 1 } })).toMatchObject({ data: { retry: true, attempt: 1 } });
  });
});

describe('backoff curves', () => {
  it('webhooks: 5 s doubling to a 1 h cap, ±20 % jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 10, 11, 30].map((n) => backoffFor(WEBHOOK_BACKOFF, n, mid))).toEqual([5000, 10000, 20000, 40000, 80000, 2560000, 3600000, 3600000]);
    expect(backoffFor(WEBHOOK_BACKOFF, 1, () => 0)).toBe(4000);
    expect(backoffFor(WEBHOOK_BACKOFF, 1, () => 0.999999)).toBe(6000);
    expect(backoffFor(WEBHOOK_BACKOFF, 30, () => 0)).toBe(2880000);
  });
  it('about 30 attempts fit in the 24 h window', () => {
    let t = 0;
    let n = 0;
    while (t <= 24 * 3600_000) t += backoffFor(WEBHOOK_BACKOFF, ++n, () => 0.5);
    expect(n).toBeGreaterThanOrEqual(25);
    expect(n).toBeLessThanOrEqual(35);
  });
  it('Docker side effects keep their curve (no jitter)', () => {
    expect([1, 2, 7].map((n) => backoffFor(SIDE_EFFECT_BACKOFF, n, () => 0.9))).toEqual([1000, 2000, 60000]);
  });
});

describe('webhook URLs', () => {
  it.each([
    ['127.0.0.1', false],
    ['127.8.9.10', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['255.255.255.255', false],
    ['224.0.0.1', false],
    ['192.0.2.10', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['ff02::1', false],
    ['2001:db8::1', false],
    ['93.184.216.34', true],
    ['8.8.8.8', true],
    ['172.32.0.1', true],
    ['2606:4700:4700::1111', true],
    ['::ffff:8.8.8.8', true],
    ['not-an-ip', false],
  ])('%s public: %s', (ip, ok) => {
    expect(isPublicAddress(ip)).toBe(ok);
  });

  it.each([
    ['ftp://example.com/x', 'bad_scheme'],
    ['file:///etc/passwd', 'bad_scheme'],
    ['javascript:alert(1)', 'bad_scheme'],
    ['gopher://127.0.0.1:6379/_', 'bad_scheme'],
    ['not a url', 'validation_failed'],
    ['/relative/path', 'validation_failed'],
    ['http://user:pass@example.com/', 'validation_failed'],
    ['http://127.0.0.1:3000/hook', 'url_not_allowed'],
    ['http://0x7f.1/', 'url_not_allowed'],
    ['http://2130706433/', 'url_not_allowed'],
    ['http://[::1]:8080/', 'url_not_allowed'],
    ['http://[::ffff:7f00:1]/', 'url_not_allowed'],
    ['https://169.254.169.254/latest/meta-data/', 'url_not_allowed'],
    ['http://10.0.0.5/', 'url_not_allowed'],
    [`https://example.com/${'x'.repeat(2100)}`, 'validation_failed'],
  ])('%s is refused (%s)', (url, code) => {
    expect(() => parseWebhookUrl(url, false)).toThrowError(expect.objectContaining({ status: 422, code, field: 'url' }));
  });

  it('private addresses pass when allowed; the scheme is still checked', () => {
    expect(parseWebhookUrl('http://127.0.0.1:3000/hook', true).toString()).toBe('http://127.0.0.1:3000/hook');
    expect(() => parseWebhookUrl('ftp://127.0.0.1/', true)).toThrowError(expect.objectContaining({ code: 'bad_scheme' }));
  });

  it('a host name is judged by every address it resolves to', async () => {
    const resolve = (addrs: string[]) => async () => addrs;
    await expect(checkWebhookUrl('https://hooks.example/x', { allowPrivate: false, resolve: resolve(['93.184.216.34']) })).resolves.toBe('https://hooks.example/x');
    await expect(checkWebhookUrl('https://hooks.example/x', { allowPrivate: false, resolve: resolve(['93.184.216.34', '10.0.0.7']) })).rejects.toMatchObject({ code: 'url_not_allowed' });
    await expect(checkWebhookUrl('https://hooks.example/x', { allowPrivate: false, resolve: resolve([]) })).rejects.toMatchObject({ code: 'url_unresolvable' });
    await expect(
      checkWebhookUrl('https://hooks.example/x', {
        allowPrivate: false,
        resolve: async () => {
          throw new Error('ENOTFOUND');
        },
      }),
    ).rejects.toMatchObject({ code: 'url_unresolvable' });
    // Allowed: not even resolved.
    await expect(checkWebhookUrl('http://anything.invalid/x', { allowPrivate: true, resolve: resolve([]) })).resolves.toBe('http://anything.invalid/x');
  });
});

describe('signature', () => {
  it('t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")> (vector computed with Python hmac)', () => {
    expect(signatureHeader('whsec_test_secret_0123456789', '{"id":"x"}', 1700000000)).toBe('t=1700000000,v1=00895370fc571fb66444a1183b5fa5244a0422ea934347dac2fcbbfa93de3a81');
  });
});

describe('why a queued job waits', () => {
  const job = (o: Partial<Job> = {}) => ({ status: 'queued', waitCode: null, waitReason: null, ...o }) as Pick<Job, 'status' | 'waitCode' | 'waitReason'>;
  const q = (o: Partial<QueueInfo>): QueueInfo => ({ position: 1, active: 0, limit: 2, limitFrom: 'plan', planName: 'free', ...o });
  it.each([
    ['all slots taken, next in line', q({ active: 2 }), 'user_limit', 'Waiting: 2 of 2 concurrent jobs running (plan free)', 1],
    ['all slots taken, third in line', q({ active: 2, position: 3 }), 'user_limit', 'Waiting: 2 of 2 concurrent jobs running (plan free); 2 earlier jobs of this user start first', 3],
    ['one slot free, second in line', q({ active: 1, position: 2 }), 'user_limit', 'Waiting: 1 of 2 concurrent jobs running (plan free); 1 earlier job of this user starts first', 2],
    ['per-user limit', q({ active: 1, limit: 1, limitFrom: 'user' }), 'user_limit', 'Waiting: 1 of 1 concurrent jobs running (per-user limit)', 1],
    ['a slot free, first in line', q({}), 'queued_behind', 'Waiting for the dispatcher: next of this user to start, users are served in turn', 1],
    ['two free, second in line', q({ position: 2 }), 'queued_behind', 'Waiting for the dispatcher: 1 earlier job of this user starts first, users are served in turn', 2],
    ['over the limit (limit lowered)', q({ active: 5, limit: 2 }), 'user_limit', 'Waiting: 5 of 2 concurrent jobs running (plan free)', 1],
  ])('%s', (_n, info, code, reason, pos) => {
    expect(describeWait(job(), info)).toEqual({ waitCode: code, waitReason: reason, queuePosition: pos });
  });
  it('a cause the dispatcher stored wins; jobs not queued keep what is stored and have no place', () => {
    expect(describeWait(job({ waitCode: 'quota', waitReason: 'Waiting: monthly quota of 60s used (61s this month)' }), q({ active: 2, position: 4 }))).toEqual({
      waitCode: 'quota',
      waitReason: 'Waiting: monthly quota of 60s used (61s this month)',
      queuePosition: 4,
    });
    expect(describeWait(job({ status: 'starting', waitCode: 'pulling_image', waitReason: 'Pulling image x' }), null)).toEqual({ waitCode: 'pulling_image', waitReason: 'Pulling image x', queuePosition: null });
    expect(describeWait(job({ status: 'running' }), q({}))).toEqual({ waitCode: null, waitReason: null, queuePosition: null });
  });
});

describe('quota reset', () => {
  it.each([
    ['2026-03-10T12:00:00Z', '2026-04-01T00:00:00.000Z'],
    ['2026-12-31T23:59:59Z', '2027-01-01T00:00:00.000Z'],
    ['2026-02-01T00:00:00Z', '2026-03-01T00:00:00.000Z'],
  ])('%s → %s', (now, at) => {
    expect(quotaResetsAt(new Date(now)).toISOString()).toBe(at);
  });
});
