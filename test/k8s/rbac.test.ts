import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AuthorizationV1Api, CoreV1Api, KubeConfig, dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { extract } from 'tar-stream';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../server/clock';
import { ensureInstallation } from '../../server/domain/installation';
import { createOperatorKey } from '../../server/domain/operators';
import { type Job } from '../../server/db/schema';
import { killJob } from '../../server/domain/jobs';
import { clusterNodes } from '../../server/domain/nodes';
import { readResults } from '../../server/domain/results';
import { createKubernetesRuntime } from '../../server/k8s/runtime';
import { sweep } from '../../server/sweepers';
import { OPERATOR } from '../helpers/fixtures';
import { kubeConfig, makeK8sRig, waitFor, type K8sRig } from '../helpers/k8s';
import { TEST_IMAGE } from '../helpers/sweepers';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * The RBAC a deployment needs (deploy/kubernetes/rbac.yaml), on the real test cluster: the repo's
 * own yaml is applied with kubectl (only its namespaces and cluster-wide names made unique to this
 * run), a kubeconfig is made from the ServiceAccount's token (Kubernetes 1.20 gives a
 * ServiceAccount a token Secret by itself), and the runtime runs with ONLY that identity through a
 * job's whole life: create, watch, list, logs, results through the keeper's exec, TERM (a delete
 * with the grace), a forced kill (a delete with grace 0) and the orphan sweep. A Pod in another
 * namespace stays out of reach, and without the optional deploy/kubernetes/rbac-nodes.yaml the
 * cluster's node list is empty and quiet; with it, the nodes show.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const KUBECTL = path.join(process.env.CACHE ?? '/var/cache/warden-k8s', 'bin', 'kubectl');
const FINAL = ['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled'];
const PLAIN = ['sh', '-c', 'echo started; sleep 300'];

const run = crypto.randomBytes(3).toString('hex');
const NS = { jobs: `warden-rbac-${run}`, home: `warden-rbac-home-${run}`, other: `warden-rbac-other-${run}` };
const NODES_NAME = `warden-nodes-rbac-${run}`;

/**
 * The repo's yaml with this run's names: `warden-jobs` → NS.jobs (namespace, Role's
 * resourceNames), the `warden` namespace (where the ServiceAccount lives) → NS.home, the
 * cluster-wide `warden-nodes` → NODES_NAME. Nothing else changes: the rules are the file's.
 */
function localized(file: string): string {
  const rename = (key: string | null, v: unknown, kind: string): unknown => {
    if (typeof v === 'string') {
      if (v === 'warden-jobs') return NS.jobs;
      if (v === 'warden-nodes') return NODES_NAME;
      if (v === 'warden' && (key === 'namespace' || (key === 'name' && kind === 'Namespace'))) return NS.home;
      return v;
    }
    if (Array.isArray(v)) return v.map((x) => rename(null, x, kind));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rename(k, x, kind)]));
    return v;
  };
  const docs = loadAllYaml(fs.readFileSync(path.join(ROOT, 'deploy/kubernetes', file), 'utf8')) as { kind: string }[];
  return docs.map((d) => dumpYaml(rename(null, d, d.kind))).join('---\n');
}

/** kubectl (the test cluster's own, built with it) as the admin. */
function kubectl(args: string[], input?: string): string {
  return execFileSync(KUBECTL, ['--kubeconfig', process.env.KUBECONFIG!, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

const code = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e: { code?: number }) => e.code,
  );

describe('RBAC: the runtime with only deploy/kubernetes/rbac.yaml\'s Role (real cluster)', () => {
  let admin: KubeConfig;
  let adminCore: CoreV1Api;
  let sa: KubeConfig;
  let saCore: CoreV1Api;
  let rig: K8sRig;
  let otherPod: string;
  let nodesApplied = false;

  beforeAll(async () => {
    admin = kubeConfig();
    adminCore = admin.makeApiClient(CoreV1Api);
    expect(kubectl(['apply', '-f', '-'], localized('rbac.yaml'))).toMatch(/role\.rbac\.authorization\.k8s\.io\/warden created/);
    // 1.20's token controller gives the ServiceAccount a token Secret.
    const secret = await waitFor(async () => {
      const acct = await adminCore.readNamespacedServiceAccount({ name: 'warden', namespace: NS.home });
      const name = acct.secrets?.[0]?.name;
      if (!name) return null;
      const s = await adminCore.readNamespacedSecret({ name, namespace: NS.home });
      return s.data?.token && s.data['ca.crt'] ? s.data : null;
    }, { what: 'the ServiceAccount\'s token Secret', timeoutMs: 60_000 });
    sa = new KubeConfig();
    sa.loadFromOptions({
      clusters: [{ name: 'test', server: admin.getCurrentCluster()!.server, caData: secret['ca.crt'], skipTLSVerify: false }],
      users: [{ name: 'warden', token: Buffer.from(secret.token!, 'base64').toString('utf8') }],
      contexts: [{ name: 'warden', cluster: 'test', user: 'warden', namespace: NS.jobs }],
      currentContext: 'warden',
    });
    saCore = sa.makeApiClient(CoreV1Api);
    // Who this is: the ServiceAccount, not the admin.
    const who = await sa.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { namespace: NS.jobs, verb: 'list', resource: 'secrets' } } },
    });
    expect(who.status?.allowed).toBe(false);

    // A Pod in another namespace that looks exactly like one of Warden's (same installation even).
    await adminCore.createNamespace({ body: { metadata: { name: NS.other } } });
    rig = await makeK8sRig({ namespace: NS.jobs, runtimeKubeConfig: sa, plan: { maxConcurrentJobs: 5, gracePeriodS: 30 } });
    otherPod = `warden-other-${run}`;
    await adminCore.createNamespacedPod({
      namespace: NS.other,
      body: {
        metadata: { name: otherPod, labels: { 'warden.managed': 'true', 'warden.installation': rig.ctx.installation, 'warden.node': rig.node, 'warden.job': crypto.randomUUID(), 'warden.attempt': '1' } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'main', image: TEST_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '300'] }],
        },
      },
    });
  });

  afterAll(async () => {
    try {
      await rig?.close();
    } finally {
      if (nodesApplied) kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], localized('rbac-nodes.yaml'));
      kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], localized('rbac.yaml'));
      await adminCore?.deleteNamespace({ name: NS.other, gracePeriodSeconds: 0 }).catch(() => {});
    }
  });

  const final = (id: string, timeoutMs = 90_000) =>
    waitFor(async () => {
      const j = await rig.job(id);
      return FINAL.includes(j.status) ? j : null;
    }, { what: `job ${id} to end`, timeoutMs });
  const files = async (j: Job) => {
    const r = await readResults(rig.db, j.id);
    expect(r).not.toBeNull();
    const out = new Map<string, string>();
    const ex = extract();
    Readable.from([Buffer.from(r!.tar)]).pipe(ex);
    for await (const e of ex) {
      const parts: Buffer[] = [];
      for await (const c of e) parts.push(c as Buffer);
      out.set(e.header.name, Buffer.concat(parts).toString());
    }
    return out;
  };

  it('the identity has the Role\'s verbs on the jobs namespace and nothing more', async () => {
    const authz = sa.makeApiClient(AuthorizationV1Api);
    const can = async (verb: string, resource: string, o: { namespace?: string; subresource?: string; name?: string } = {}) =>
      (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace: o.namespace ?? NS.jobs, verb, resource, subresource: o.subresource, name: o.name } } } })).status!.allowed;
    for (const v of ['create', 'get', 'list', 'watch', 'delete']) expect(await can(v, 'pods'), `pods ${v}`).toBe(true);
    expect(await can('get', 'pods', { subresource: 'log' })).toBe(true);
    expect(await can('get', 'pods', { subresource: 'exec' })).toBe(true);
    expect(await can('create', 'pods', { subresource: 'exec' })).toBe(true);
    expect(await can('get', 'namespaces', { name: NS.jobs })).toBe(true);
    // Never modified, never in bulk, no secrets, no other namespace, no namespaces of its own making.
    for (const v of ['patch', 'update', 'deletecollection']) expect(await can(v, 'pods'), `pods ${v}`).toBe(false);
    expect(await can('get', 'secrets')).toBe(false);
    expect(await can('create', 'pods', { subresource: 'attach' })).toBe(false);
    expect(await can('get', 'namespaces', { name: NS.other, namespace: NS.other })).toBe(false);
    expect(await can('create', 'namespaces', { namespace: '' })).toBe(false);
    expect(await can('list', 'nodes', { namespace: '' })).toBe(false);
    for (const v of ['list', 'delete', 'create']) expect(await can(v, 'pods', { namespace: NS.other }), `pods ${v} in another namespace`).toBe(false);
    expect(await rig.docker.ping()).toBe(true);
    expect(await rig.docker.engineId()).toMatch(new RegExp(`^k8s\\.${NS.jobs}\\.`));
  });

  it('a job\'s life with only that identity: create, watch, list, logs (tail and follow), results through the keeper\'s exec', async () => {
    const j = await rig.start(['sh', '-c', 'echo started; echo alpha > /out/a.txt; sleep 3; echo done'], {
      timeoutSeconds: 60,
      waitFor: 'started',
      extra: { resultsPath: '/out' },
    });
    expect((await rig.docker.list({ 'warden.node': rig.node })).map((p) => p.id)).toEqual([j.containerId]);
    const follow = await rig.docker.followLogs(j.containerId!, 10);
    expect(follow).not.toBeNull();
    let followed = '';
    follow!.on('data', (c: Buffer) => (followed += c.toString()));
    // Completion comes from the watch only (nothing else reports the exit here).
    const row = await final(j.id);
    expect(row).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(row.logTail).toMatch(/started\s+done/);
    await waitFor(() => followed.includes('done'), { what: 'the followed log to reach "done"' });
    (follow as Readable).destroy();
    expect((await files(row)).get('out/a.txt')).toBe('alpha\n');
    // Results read, the keeper is told to leave (an exec too): the Pod ends and frees its requests.
    await waitFor(async () => (await rig.pod(j.containerId!))?.status?.phase === 'Succeeded', { what: 'the keeper to leave once the results are read', timeoutMs: 60_000 });
  });

  it('a Pod the scheduler cannot place yet has no log (the API answers 204, no body): an empty tail, no error', async () => {
    const pending = await rig.docker.run({
      image: TEST_IMAGE,
      command: ['sleep', '300'],
      cpus: 512,
      labels: { 'warden.managed': 'true', 'warden.job': crypto.randomUUID(), 'warden.attempt': '1', 'warden.node': rig.node, 'warden.installation': rig.ctx.installation },
    });
    try {
      await waitFor(async () => (await rig.pod(pending))?.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'), {
        what: 'the scheduler to say it cannot place the Pod',
        timeoutMs: 60_000,
      });
      expect(await rig.docker.logsTail(pending)).toBe('');
      expect(await rig.docker.lastOutputAt(pending)).toEqual({ at: null });
      expect(rig.docker.lastError()).toBeNull();
    } finally {
      await rig.docker.remove(pending);
    }
  });

  it('timeout with only that identity: TERM is a delete with the grace, results snapshotted through exec first; a forced kill is a delete with grace 0', async () => {
    const j = await rig.start(['sh', '-c', 'echo beta > /out/b.txt && trap "" TERM && echo started && while :; do sleep 1; done'], {
      timeoutSeconds: 3,
      gracePeriodSeconds: 2,
      waitFor: 'started',
      extra: { resultsPath: '/out' },
    });
    rig.ctx.clock.set(j.deadlineAt!);
    expect((await sweep(rig.ctx, 'timeout')).planned.map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    expect((await rig.pod(j.containerId!))?.metadata?.deletionGracePeriodSeconds).toBe(2);
    const row = await final(j.id);
    expect(row).toMatchObject({ status: 'timed_out', exitCode: -1 });
    expect((await files(row)).get('out/b.txt')).toBe('beta\n');
    const [term] = await rig.audits(j.id, 'container.sigterm');
    expect(term).toMatchObject({ success: true });

    const f = await rig.start(PLAIN, { timeoutSeconds: 60, gracePeriodSeconds: 30, waitFor: 'started' });
    await killJob(rig.ctx, OPERATOR, f.id, { force: true, reason: 'now' });
    await sweep(rig.ctx, 'timeout');
    await waitFor(async () => (await rig.pod(f.containerId!)) === null, { what: 'the Pod to be gone' });
    expect(await final(f.id)).toMatchObject({ status: 'killed', reason: 'Killed by operator:op@test: now' });
    const [kill] = await rig.audits(f.id, 'container.sigkill');
    expect(kill).toMatchObject({ success: true });
  });

  it('the orphan sweep with only that identity removes this installation\'s orphan; the look-alike Pod in another namespace is out of reach', async () => {
    const orphan = await rig.docker.run({
      image: TEST_IMAGE,
      command: ['sleep', '300'],
      labels: { 'warden.managed': 'true', 'warden.job': crypto.randomUUID(), 'warden.attempt': '1', 'warden.node': rig.node, 'warden.installation': rig.ctx.installation },
    });
    const created = (await rig.pod(orphan))!.metadata!.creationTimestamp!;
    rig.ctx.clock.set(new Date(created).getTime() + 301_000);
    const r = await sweep(rig.ctx, 'orphans', { settings: { orphanGraceS: 300 } });
    expect(r.planned.filter((p) => p.containerId === orphan).map((p) => p.kind)).toEqual(['remove_container']);
    expect(r.planned.filter((p) => p.containerId === otherPod)).toEqual([]);
    expect(await rig.pod(orphan)).toBeNull();

    // The other namespace: the identity can neither see nor delete it, even asked by name.
    expect(await code(saCore.listNamespacedPod({ namespace: NS.other }))).toBe(403);
    expect(await code(saCore.readNamespacedPod({ name: otherPod, namespace: NS.other }))).toBe(403);
    expect(await code(saCore.deleteNamespacedPod({ name: otherPod, namespace: NS.other, gracePeriodSeconds: 0 }))).toBe(403);
    expect(await code(saCore.listPodForAllNamespaces({}))).toBe(403);
    // A runtime pointed at that namespace with this identity says what is missing, and touches nothing.
    const wrong = createKubernetesRuntime({ namespace: NS.other, keeperImage: TEST_IMAGE, kubeConfig: sa });
    expect(await wrong.ping()).toBe(false);
    expect(wrong.lastError()).toContain(`Kubernetes refused to let Warden read namespace ${NS.other} (403)`);
    expect(wrong.lastError()).toContain('deploy/kubernetes/rbac.yaml');
    await expect(wrong.list({ 'warden.managed': 'true' })).rejects.toMatchObject({ code: 403 });
    await expect(wrong.remove(otherPod)).rejects.toMatchObject({ code: 403 });
    const still = await adminCore.readNamespacedPod({ name: otherPod, namespace: NS.other });
    expect(still.metadata?.deletionTimestamp).toBeFalsy();
  });

  it('a whole Warden (WARDEN_RUNTIME=kubernetes, `next start`) with a kubeconfig of only that identity: healthy, runs a job, its Nodes answer empty without an error', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-rbac-'));
    const conf = path.join(dir, 'warden.conf');
    fs.writeFileSync(conf, sa.exportConfig(), { mode: 0o600 });
    const admin = { email: 'admin@k8s-rbac.test', password: 'admin-pass-rbac-1' };
    let warden: Warden | null = null;
    try {
      warden = await startWarden('k8s-rbac', {
        admin,
        env: { WARDEN_RUNTIME: 'kubernetes', WARDEN_K8S_NAMESPACE: NS.jobs, WARDEN_K8S_KEEPER_IMAGE: TEST_IMAGE, KUBECONFIG: conf },
      });
      const db = warden.db().db;
      const opKey = (await createOperatorKey({ db, clock: systemClock, node: 'rbac', installation: await ensureInstallation(db), docker: null }, { kind: 'system', name: 'cli' }, admin.email)).apiKey;
      const api = async <T>(method: string, p: string, body?: unknown, key = opKey): Promise<{ status: number; body: T }> => {
        const res = await fetch(`${warden!.base}${p}`, {
          method,
          headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
      };
      // Healthy: the runtime reads its namespace with this identity.
      const health = await api<{ status: string }>('GET', '/api/health');
      expect(health.status, JSON.stringify(health.body)).toBe(200);
      const u = await api<{ apiKey: string }>('POST', '/api/v1/users', { name: `rbac-${run}`, plan: 'pro' });
      expect(u.status, JSON.stringify(u.body)).toBe(201);
      const sub = await api<{ id: string }>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sh', '-c', 'echo hello with the least rights'], timeoutSeconds: 60 }, u.body.apiKey);
      expect(sub.status, JSON.stringify(sub.body)).toBe(201);
      const done = await until(`job ${sub.body.id} to end`, async () => {
        const j = (await api<{ status: string; exitCode: number | null; containerId: string | null }>('GET', `/api/v1/jobs/${sub.body.id}`)).body;
        return FINAL.includes(j.status) ? j : null;
      }, 120_000, 500);
      expect(done).toMatchObject({ status: 'succeeded', exitCode: 0 });
      const logs = await fetch(`${warden.base}/api/v1/jobs/${sub.body.id}/logs`, { headers: { authorization: `Bearer ${opKey}` } });
      expect(await logs.text()).toContain('hello with the least rights');
      // Its Pod is in the jobs namespace, under the server's own installation (the rig's sweeps never touch it).
      expect((await adminCore.readNamespacedPod({ name: done.containerId!, namespace: NS.jobs })).metadata?.labels?.['warden.installation']).not.toBe(rig.ctx.installation);
      const nodes = await api<{ cluster: { runtime: string; nodes: unknown[]; error: string | null } }>('GET', '/api/v1/nodes');
      expect(nodes.status).toBe(200);
      expect(nodes.body.cluster).toEqual({ runtime: 'kubernetes', nodes: [], error: null });
    } finally {
      await warden?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // Nothing in its log about a refusal: a forbidden node list is not an error.
    expect(fs.readFileSync(path.join(ROOT, 'test-results/e2e-server-k8s-rbac.log'), 'utf8')).not.toMatch(/forbidden|\b403\b/i);
  });

  it('without rbac-nodes.yaml the cluster\'s node list is empty, quietly; with it the nodes show', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 60, waitFor: 'started' });
    const warn = vi.spyOn(console, 'warn');
    const error = vi.spyOn(console, 'error');
    try {
      expect(await rig.docker.clusterNodes!()).toEqual([]);
      // What GET /api/v1/nodes and the Nodes page get: no nodes, and no error to show.
      expect(await clusterNodes({ docker: rig.docker })).toEqual({ runtime: 'kubernetes', nodes: [], error: null });
      // Capacity unbounded (the namespace's quota, if any, is the limit); the runtime stays healthy.
      expect(await rig.docker.engineInfo()).toMatchObject({ cpus: 1024 });
      expect(await rig.docker.ping()).toBe(true);
      expect(rig.docker.lastError()).toBeNull();
      expect(warn).not.toHaveBeenCalled();
      expect(error).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }

    nodesApplied = true;
    expect(kubectl(['apply', '-f', '-'], localized('rbac-nodes.yaml'))).toMatch(/clusterrole\.rbac\.authorization\.k8s\.io\/warden-nodes-rbac-\w+ created/);
    const on = (await rig.pod(j.containerId!))!.spec!.nodeName!;
    const nodes = await waitFor(async () => {
      const n = await rig.docker.clusterNodes!();
      return n.length > 0 ? n : null;
    }, { what: 'the nodes to be listed once rbac-nodes.yaml is applied' });
    expect(nodes.find((n) => n.name === on)).toMatchObject({ ready: true, wardenPods: 1 });
    expect((await rig.docker.engineInfo()).cpus).toBeLessThan(1024);
    await killJob(rig.ctx, OPERATOR, j.id, { force: true, reason: 'test cleanup' });
    await sweep(rig.ctx, 'timeout');
    await final(j.id);
  });
});
