import fs from 'node:fs';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

/**
 * The RBAC a Kubernetes deployment needs is written three times: in deploy/kubernetes/*.yaml (what
 * operators apply), in the README's verb table (why each verb), and implicitly in the calls
 * server/k8s/runtime.ts makes. No cluster here: this only keeps the three in step.
 * test/k8s/rbac.test.ts shows on a real cluster that the yaml is enough.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}
interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

const rbac = loadAllYaml(read('deploy/kubernetes/rbac.yaml')) as Doc[];
const nodes = loadAllYaml(read('deploy/kubernetes/rbac-nodes.yaml')) as Doc[];

/** "Role pods create", "ClusterRole nodes list", … from the yaml's rules. */
function grants(docs: Doc[]): string[] {
  const out: string[] = [];
  for (const d of docs) {
    if (d.kind !== 'Role' && d.kind !== 'ClusterRole') continue;
    for (const r of d.rules ?? []) for (const res of r.resources ?? []) for (const v of r.verbs ?? []) out.push(`${d.kind} ${res} ${v}`);
  }
  return out.sort();
}

/** The README's "Running on Kubernetes" verb table: one row per resource and verb. */
function readmeTable(): { resource: string; verb: string; by: string; why: string }[] {
  const readme = read('README.md');
  const start = readme.indexOf('\n## Running on Kubernetes\n');
  expect(start, 'README.md has a "Running on Kubernetes" section').toBeGreaterThan(0);
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  const lines = section.split('\n');
  const head = lines.findIndex((l) => /^\| Resource \| Verb \| Granted by \| Why/.test(l));
  expect(head, 'the section has the verb table').toBeGreaterThan(0);
  const rows = [];
  for (const l of lines.slice(head + 2)) {
    if (!l.startsWith('|')) break;
    const [resource, verb, by, why] = l.split('|').slice(1, -1).map((c) => c.trim());
    rows.push({ resource: resource!.replace(/`/g, ''), verb: verb!.replace(/`/g, ''), by: by!, why: why! });
  }
  return rows;
}

/**
 * What each API call of the runtime needs. A call not listed here fails the last test: add its
 * permission to rbac.yaml, to the README's table and here.
 */
const CALLS: Record<string, string[]> = {
  'core.readNamespace': ['namespaces get'],
  'core.readNamespacedPod': ['pods get'],
  'core.createNamespacedPod': ['pods create'],
  'core.deleteNamespacedPod': ['pods delete'],
  'core.listNamespacedPod': ['pods list'],
  'core.readNamespacedPodLog': ['pods/log get'],
  'core.listNode': ['nodes list'],
  'new Log': ['pods/log get'],
  // A WebSocket exec: `get` on 1.20, `create` where the upgrade is authorized as a create.
  'new Exec': ['pods/exec get', 'pods/exec create'],
  'new Watch': ['pods watch'],
};
/**
 * Calls the runtime makes that the yaml deliberately does not grant: it creates the namespace only
 * when it is missing, and rbac.yaml creates it beforehand (so the identity needs no cluster-wide
 * right to create namespaces).
 */
const NOT_GRANTED: Record<string, string> = { 'core.createNamespace': 'namespaces create' };

describe('Kubernetes RBAC: deploy/kubernetes, the README and the runtime agree', () => {
  it('rbac.yaml: a ServiceAccount and a Role on the one jobs namespace bound to it; no ClusterRole, no Secrets', () => {
    const kinds = rbac.map((d) => d.kind);
    expect(kinds).not.toContain('ClusterRole');
    expect(kinds).not.toContain('ClusterRoleBinding');
    const role = rbac.find((d) => d.kind === 'Role')!;
    expect(role.metadata.namespace).toBe('warden-jobs');
    const binding = rbac.find((d) => d.kind === 'RoleBinding')!;
    expect(binding.metadata.namespace).toBe('warden-jobs');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
    const sa = rbac.find((d) => d.kind === 'ServiceAccount')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    expect(rbac.filter((d) => d.kind === 'Namespace').map((d) => d.metadata.name).sort()).toEqual(['warden', 'warden-jobs']);
    for (const r of role.rules!) {
      expect(r.apiGroups).toEqual(['']);
      expect(r.resources!.some((x) => x === 'secrets' || x === '*')).toBe(false);
      expect(r.verbs!.some((v) => ['*', 'patch', 'update', 'deletecollection', 'escalate', 'bind', 'impersonate'].includes(v))).toBe(false);
    }
    // The namespace rule reaches only the jobs namespace itself.
    expect(role.rules!.find((r) => r.resources!.includes('namespaces'))).toEqual({ apiGroups: [''], resources: ['namespaces'], resourceNames: ['warden-jobs'], verbs: ['get'] });
  });

  it('rbac-nodes.yaml: only `list nodes`, bound to the same ServiceAccount', () => {
    const role = nodes.find((d) => d.kind === 'ClusterRole')!;
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }]);
    const binding = nodes.find((d) => d.kind === 'ClusterRoleBinding')!;
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata.name });
    const sa = rbac.find((d) => d.kind === 'ServiceAccount')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
  });

  it('the README\'s verb table is exactly the yaml\'s rules, each with a reason', () => {
    const rows = readmeTable();
    const table = rows.map((r) => `${r.by.startsWith('ClusterRole') ? 'ClusterRole' : 'Role'} ${r.resource} ${r.verb}`).sort();
    expect(table).toEqual([...grants(rbac), ...grants(nodes)].sort());
    for (const r of rows) expect(r.why.length, `${r.resource} ${r.verb} says why`).toBeGreaterThan(20);
    // What the table says of scope holds in the yaml.
    expect(rows.find((r) => r.resource === 'namespaces')!.by).toContain('resourceNames: [warden-jobs]');
    expect(rows.find((r) => r.resource === 'nodes')!.by).toMatch(/optional.*rbac-nodes\.yaml/);
    expect(read('README.md')).toContain('kubectl apply -f deploy/kubernetes/rbac.yaml');
  });

  it('every API call in server/k8s/runtime.ts is granted, and nothing is granted that no call uses', () => {
    const src = read('server/k8s/runtime.ts');
    // The one client it makes: the core API (pods, their logs and exec, namespaces, nodes).
    expect([...src.matchAll(/makeApiClient\((\w+)\)/g)].map((m) => m[1])).toEqual(['CoreV1Api']);
    const calls = new Set([...src.matchAll(/this\.core\.(\w+)\(/g)].map((m) => `core.${m[1]}`));
    for (const m of src.matchAll(/new (Log|Exec|Watch|PortForward|Attach|Cp|Metrics|KubernetesObjectApi)\(/g)) calls.add(`new ${m[1]}`);
    const unknown = [...calls].filter((c) => !(c in CALLS) && !(c in NOT_GRANTED));
    expect(unknown, 'calls with no known permission: grant them in deploy/kubernetes and say why in the README').toEqual([]);
    const needed = new Set([...calls].flatMap((c) => CALLS[c] ?? []));
    const granted = [...grants(rbac), ...grants(nodes)].map((g) => g.split(' ').slice(1).join(' '));
    expect([...needed].sort()).toEqual([...new Set(granted)].sort());
    for (const [call, perm] of Object.entries(NOT_GRANTED)) {
      expect(calls.has(call), `${call} is still made`).toBe(true);
      expect(granted).not.toContain(perm);
    }
    // The rest of server/k8s makes no calls (pod.ts is pure).
    for (const f of fs.readdirSync(path.join(ROOT, 'server/k8s'))) {
      if (f === 'runtime.ts') continue;
      const imports = [...read(`server/k8s/${f}`).matchAll(/import\s+(type\s+)?[^;]*?from '@kubernetes\/client-node'/g)];
      expect(imports.filter((m) => !m[1]).map((m) => m[0]), `${f} imports only types from the client`).toEqual([]);
    }
  });
});
