import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import {
  BACKSTOP_MARGIN_S,
  cpusOf,
  memoryMbOf,
  evictionReason,
  KEEPER,
  labelSafe,
  labelSelector,
  labelsOf,
  MAIN,
  podFor,
  podState,
  pullFailure,
  pullReason,
} from '../server/k8s/pod';

/** The pure half of the Kubernetes runtime (server/k8s/pod.ts): the Pod Warden makes and what a Pod's status means. */

const labels = {
  'warden.managed': 'true',
  'warden.installation': '3f0c9a4e-1111-4222-8333-944445555666',
  'warden.job': '0b6f3c2e-aaaa-4bbb-8ccc-dddddddddddd',
  'warden.attempt': '1',
  'warden.user': 'u-1',
  'warden.node': 'ABCD:EFGH:IJKL',
  'warden.label.team': 'data science/eu',
};
const spec = { name: 'warden-0b6f3c2e-aaaa-4bbb-8ccc-dddddddddddd-1', image: 'busybox', command: ['sh', '-c', 'echo hi'], env: { A: '1' }, labels, cpus: 0.5, memoryMb: 256, timeoutSeconds: 60, gracePeriodSeconds: 5 };

describe('labelSafe', () => {
  it.each([
    ['true', 'true'],
    ['ABCD:EFGH:IJKL', 'ABCD-EFGH-IJKL'],
    ['-x-', 'x'],
    ['a'.repeat(70), 'a'.repeat(63)],
    ['', ''],
  ])('%s → %s', (v, want) => {
    expect(labelSafe(v)).toBe(want);
    expect(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(labelSafe(v))).toBe(true);
  });
});

describe('podFor', () => {
  it('one Pod per attempt: never restarted, fenced, limits = requests, backstop = longest timeout + grace + margin', () => {
    const p = podFor({ ...spec, maxTimeoutSeconds: 600 }, { namespace: 'warden-jobs', keeperImage: 'busybox' });
    expect(p.metadata?.namespace).toBe('warden-jobs');
    expect(p.metadata?.labels).toEqual({
      'warden.managed': 'true',
      'warden.installation': labels['warden.installation'],
      'warden.job': labels['warden.job'],
      'warden.attempt': '1',
      'warden.user': 'u-1',
      'warden.node': 'ABCD-EFGH-IJKL',
    });
    // User labels never become Pod labels; the annotation keeps every label exactly.
    expect(labelsOf(p)).toEqual(labels);
    expect(p.spec).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false, terminationGracePeriodSeconds: 5, activeDeadlineSeconds: 600 + 5 + BACKSTOP_MARGIN_S });
    const c = p.spec!.containers[0]!;
    expect(c).toMatchObject({ name: MAIN, imagePullPolicy: 'IfNotPresent', args: ['sh', '-c', 'echo hi'], env: [{ name: 'A', value: '1' }] });
    expect(c.resources).toEqual({ limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m', memory: '256Mi' } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(p.spec!.containers).toHaveLength(1);
  });

  it('a resultsPath adds an emptyDir shared with the keeper', () => {
    const p = podFor({ ...spec, resultsPath: '/out' }, { namespace: 'n', keeperImage: 'keeper:1' });
    expect(p.spec!.volumes).toEqual([{ name: 'results', emptyDir: {} }]);
    expect(p.spec!.containers.map((c) => [c.name, c.volumeMounts?.[0]?.mountPath])).toEqual([[MAIN, '/out'], [KEEPER, '/out']]);
    expect(p.spec!.containers[1]!.image).toBe('keeper:1');
  });

  it('selects by label-safe values', () => {
    expect(labelSelector({ 'warden.node': 'A:B', 'warden.label.x': 'y' })).toBe('warden.node=A-B');
  });
});

const pod = (status: V1Pod['status'], meta: V1Pod['metadata'] = {}): V1Pod => ({ metadata: { name: 'p', ...meta }, status });

describe('status', () => {
  it.each<[string, V1Pod, string]>([
    ['pending', pod({ phase: 'Pending' }), 'created'],
    ['running', pod({ phase: 'Running', containerStatuses: [{ name: MAIN, image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } }] }), 'running'],
    ['main exited, keeper up', pod({ phase: 'Running', containerStatuses: [{ name: MAIN, image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 3 } } }] }), 'exited'],
    ['failed', pod({ phase: 'Failed' }), 'exited'],
  ])('%s', (_n, p, want) => expect(podState(p)).toBe(want));

  it('names the image and stays short on a pull failure', () => {
    const p = pod({ phase: 'Pending', containerStatuses: [{ name: MAIN, image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'rpc error: ' + 'x'.repeat(500) } } }] });
    const f = pullFailure(p)!;
    expect(f.reason).toBe('ErrImagePull');
    const r = pullReason('nope/nope:1', f);
    expect(r.startsWith('Image "nope/nope:1" could not be pulled (ErrImagePull): rpc error')).toBe(true);
    expect(r.length).toBeLessThanOrEqual(300);
  });

  it.each([
    ['The node was low on resource: memory. Container main was using 900Mi.', 'evicted: node memory pressure'],
    ['The node was low on resource: ephemeral-storage.', 'evicted: node disk pressure'],
  ])('eviction in words: %s', (message, want) => {
    expect(evictionReason(pod({ phase: 'Failed', reason: 'Evicted', message }))).toBe(want);
  });
});

describe('quantities', () => {
  it.each([
    ['2', 2],
    ['1500m', 1.5],
    ['x', null],
  ])('cpu %s → %s', (q, want) => expect(cpusOf(q)).toBe(want));
  it.each([
    ['8010948Ki', 7823],
    ['512Mi', 512],
    ['1G', 953],
    ['nope', null],
  ])('memory %s → %s MB', (q, want) => expect(memoryMbOf(q)).toBe(want));
});
