/**
 * The site chart as `helm template` renders it: the agent's namespace-only rights, its pod, its
 * egress-only NetworkPolicies, the join bundle in each of its three forms, the policy and placement
 * files (read back with the agent's own parsers), the data volume conventions, and what the schema
 * and the chart's checks refuse.
 */
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import YAML from 'yaml';
import { decodeJoinBundle, encodeJoinBundle } from '../../operator/sitelink/join-bundle.js';
import { parseClientPlacement } from '../../operator/site/client-placement.js';
import { parsePolicy } from '../../operator/site/policy.js';
import { siteAgentRole } from '../../operator/site/rbac.js';
import { all, helmBinary, one, refusal, render, SITE_CHART, type Rendered } from './helm.js';
import { restrictedProblems } from './pod-security.js';

jest.setTimeout(60_000);

const NS = 'flotilla';
const site = (values: unknown = {}) => render(SITE_CHART, values, { release: 'flotilla-site', namespace: NS });
const refused = (values: unknown) => refusal(SITE_CHART, values);
const agent = (objects: Rendered[]) => one(objects, 'Deployment').spec.template.spec;
const args = (objects: Rendered[]) => agent(objects).containers[0].args as string[];
const configFile = (objects: Rendered[], key: string) => YAML.parse(one(objects, 'ConfigMap').data[key]);

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const bundle = encodeJoinBundle({ hub: 'hub.example.org:7443', enrollment: 'hub.example.org:7444', site: 'cleveland', token: `${'a'.repeat(12)}.${'b'.repeat(43)}`, caPem: CA });

beforeAll(() => helmBinary(), 15 * 60_000);

describe('site chart: RBAC', () => {
  test("a Role in the agent's namespace only, with operator/site/rbac.ts's rules, bound to its ServiceAccount", async () => {
    const objects = await site();
    expect(objects.filter((o) => o.kind.startsWith('Cluster'))).toEqual([]);
    const role = one(objects, 'Role');
    expect(role.metadata.namespace).toBe(NS);
    expect(role.rules).toEqual(siteAgentRole(NS).rules);
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
    ]);
    const binding = one(objects, 'RoleBinding');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'flotilla-site-agent', namespace: NS }]);
    expect(agent(objects).serviceAccountName).toBe('flotilla-site-agent');
  });
});

describe('site chart: the agent pod', () => {
  test('meets Pod Security "restricted", one replica, recreated, its identity on a claim of its own', async () => {
    const objects = await site();
    const deployment = one(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(restrictedProblems(agent(objects))).toEqual([]);
    expect(agent(objects).containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    const state = agent(objects).volumes.find((v: { name: string }) => v.name === 'state');
    expect(state.persistentVolumeClaim.claimName).toBe('flotilla-site-agent-state');
    expect(one(objects, 'PersistentVolumeClaim', 'flotilla-site-agent-state').spec.accessModes).toEqual(['ReadWriteOnce']);
    const noState = await site({ agent: { state: { existingClaim: 'kept-identity' }, securityContext: { runAsUser: null, runAsGroup: null, fsGroup: null } } });
    expect(all(noState, 'PersistentVolumeClaim')).toEqual([]);
    expect(agent(noState).volumes.find((v: { name: string }) => v.name === 'state').persistentVolumeClaim.claimName).toBe('kept-identity');
    expect(restrictedProblems(agent(noState))).toEqual([]);
  });

  test('runs `flotilla site-agent` on the mounted bundle, policy and placement', async () => {
    const objects = await site();
    expect(agent(objects).containers[0].command).toEqual(['flotilla']);
    expect(args(objects)).toEqual([
      'site-agent',
      '--namespace=$(POD_NAMESPACE)',
      '--state-dir=/var/lib/flotilla',
      '--join=/etc/flotilla/join/bundle',
      '--policy=/etc/flotilla/agent/policy.yaml',
      '--client-placement=/etc/flotilla/agent/client-placement.yaml',
      '--listen-health=0.0.0.0:8081',
      '--site-data-claim=site-data',
    ]);
    // Probes on that port: alive from the start, ready once enrolled and linked to the hub.
    const container = agent(objects).containers[0];
    expect(container.ports).toEqual([{ name: 'health', containerPort: 8081, protocol: 'TCP' }]);
    expect([container.startupProbe.httpGet, container.livenessProbe.httpGet, container.readinessProbe.httpGet]).toEqual([
      { path: '/healthz', port: 'health' },
      { path: '/healthz', port: 'health' },
      { path: '/readyz', port: 'health' },
    ]);
    const mounts = agent(objects).containers[0].volumeMounts.map((m: { name: string; mountPath: string }) => `${m.name}:${m.mountPath}`);
    expect(mounts).toEqual(['state:/var/lib/flotilla', 'join:/etc/flotilla/join', 'config:/etc/flotilla/agent', 'tmp:/tmp']);
    const mirrored = await site({ clients: { image: 'registry.hospital.example/flotilla:0.1.0' }, data: { claimName: 'records' } });
    expect(args(mirrored).slice(-3)).toEqual(['--listen-health=0.0.0.0:8081', '--site-data-claim=records', '--client-image=registry.hospital.example/flotilla:0.1.0']);
  });

  test("the site's claims for the clients' audit trails and their state across pods reach the agent; none by default", async () => {
    const plain = args(await site());
    expect(plain.filter((a) => a.startsWith('--audit-claim') || a.startsWith('--client-state-claim'))).toEqual([]);
    const kept = args(await site({ audit: { claimName: 'flotilla-audit' }, clientState: { claimName: 'flotilla-client-state' } }));
    expect(kept).toContain('--audit-claim=flotilla-audit');
    expect(kept).toContain('--client-state-claim=flotilla-client-state');
  });

  test('a change of policy restarts the agent (it reads its files at start)', async () => {
    const hash = async (values: unknown) => one(await site(values), 'Deployment').spec.template.metadata.annotations['flotilla.dev/config-sha256'];
    expect(await hash({})).toBe(await hash({}));
    expect(await hash({ policy: { maxConcurrentJobs: 1 } })).not.toBe(await hash({}));
    expect(await hash({ clients: { nodeSelector: { pool: 'research' } } })).not.toBe(await hash({}));
  });
});

describe('site chart: the join bundle', () => {
  const joinVolume = (objects: Rendered[]) => agent(objects).volumes.find((v: { name: string }) => v.name === 'join').secret;

  test('by default from the Secret flotilla-join, which the chart does not make', async () => {
    const objects = await site();
    expect(all(objects, 'Secret')).toEqual([]);
    expect(joinVolume(objects)).toEqual({ secretName: 'flotilla-join', optional: true, defaultMode: 0o440, items: [{ key: 'bundle', path: 'bundle' }] });
    expect(joinVolume(await site({ join: { existingSecret: 'from-the-hub', existingSecretKey: 'join' } })).items).toEqual([{ key: 'join', path: 'bundle' }]);
  });

  test('given whole, it is kept as handed over', async () => {
    const objects = await site({ join: { bundle: `${bundle}\n` } });
    const secret = one(objects, 'Secret');
    expect(Buffer.from(secret.data.bundle, 'base64').toString()).toBe(bundle);
    expect(joinVolume(objects).secretName).toBe(secret.metadata.name);
  });

  test('given in parts, the chart makes the bundle the agent reads', async () => {
    const token = `${'c'.repeat(12)}.${'d'.repeat(43)}`;
    const objects = await site({ join: { token, site: 'hungarian' }, hub: { address: 'hub.example.org:443', enrollmentAddress: 'enrol.hub.example.org:443', caPem: CA } });
    const text = Buffer.from(one(objects, 'Secret').data.bundle, 'base64').toString();
    expect(decodeJoinBundle(text)).toEqual({ hub: 'hub.example.org:443', enrollment: 'enrol.hub.example.org:443', site: 'hungarian', token, caPem: CA });
  });

  test.each([
    [{ join: { bundle, token: `${'c'.repeat(12)}.${'d'.repeat(43)}` } }, 'give join.bundle or join.token, not both'],
    [{ join: { token: `${'c'.repeat(12)}.${'d'.repeat(43)}`, site: 'x' }, hub: { address: 'h:1', enrollmentAddress: 'h:2' } }, 'join.token needs hub.caPem too'],
    [{ join: { bundle: 'bm90IGpzb24=' } }, 'join.bundle is not a join bundle'],
    [{ join: { existingSecret: '' } }, 'join.existingSecret, join.bundle or join.token is required'],
  ])('refuses %j', async (values, message) => {
    expect(await refused(values)).toContain(message);
  });
});

describe("site chart: the site's policy and client placement", () => {
  test('by default no limits but the GPU ban; the agent parses what the chart writes', async () => {
    const objects = await site();
    expect(parsePolicy(configFile(objects, 'policy.yaml'))).toEqual({ allowGpu: false });
    expect(parseClientPlacement(configFile(objects, 'client-placement.yaml'))).toEqual({ nodeSelector: {}, tolerations: [], gpu: { nodeSelector: {}, tolerations: [] } });
  });

  test('every ceiling and placement value reaches the agent as it reads them', async () => {
    const gpuTaint = { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' };
    const objects = await site({
      policy: { allowedJobNamespaces: ['cardiology'], allowedImages: ['registry.example.org/flotilla:*'], maxCpu: '4', maxMemory: '8Gi', allowGpu: true, maxConcurrentJobs: 2 },
      clients: { nodeSelector: { pool: 'research' }, gpu: { nodeSelector: { 'nvidia.com/gpu.present': 'true' }, tolerations: [gpuTaint], runtimeClassName: 'nvidia' } },
    });
    expect(parsePolicy(configFile(objects, 'policy.yaml'))).toEqual({
      allowedJobNamespaces: ['cardiology'],
      allowedImages: ['registry.example.org/flotilla:*'],
      maxCpu: '4',
      maxMemory: '8Gi',
      allowGpu: true,
      maxConcurrentJobs: 2,
    });
    expect(parseClientPlacement(configFile(objects, 'client-placement.yaml'))).toEqual({
      nodeSelector: { pool: 'research' },
      tolerations: [],
      gpu: { nodeSelector: { 'nvidia.com/gpu.present': 'true' }, tolerations: [gpuTaint], runtimeClassName: 'nvidia' },
    });
    // An empty list is not "no limit": it allows no namespace at all.
    expect(parsePolicy(configFile(await site({ policy: { allowedJobNamespaces: [] } }), 'policy.yaml')).allowedJobNamespaces).toEqual([]);
  });
});

describe("site chart: the hospital's records", () => {
  test('an existing claim by default: the chart makes none', async () => {
    expect(all(await site(), 'PersistentVolumeClaim').map((c) => c.metadata.name)).toEqual(['flotilla-site-agent-state']);
    expect(all(await site(), 'PersistentVolume')).toEqual([]);
  });

  test('source pvc: an empty claim, kept on uninstall unless told otherwise', async () => {
    const claim = one(await site({ data: { source: 'pvc', pvc: { size: '50Gi', storageClassName: 'fast', accessModes: ['ReadOnlyMany'] } } }), 'PersistentVolumeClaim', 'site-data');
    expect(claim.spec).toEqual({ accessModes: ['ReadOnlyMany'], storageClassName: 'fast', resources: { requests: { storage: '50Gi' } } });
    expect(claim.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(one(await site({ data: { source: 'pvc', keepOnUninstall: false } }), 'PersistentVolumeClaim', 'site-data').metadata.annotations).toBeUndefined();
  });

  test('source hostPath: a volume on the node that has the folder, never deleting it, and the claim bound to it', async () => {
    const objects = await site({ data: { source: 'hostPath', hostPath: { path: '/srv/records', nodeName: 'records-node' } } });
    const pv = one(objects, 'PersistentVolume');
    expect(pv.spec.hostPath).toEqual({ path: '/srv/records', type: 'Directory' });
    expect(pv.spec.persistentVolumeReclaimPolicy).toBe('Retain');
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions).toEqual([{ key: 'kubernetes.io/hostname', operator: 'In', values: ['records-node'] }]);
    expect(pv.spec.claimRef).toEqual({ namespace: NS, name: 'site-data' });
    const claim = one(objects, 'PersistentVolumeClaim', 'site-data');
    expect(claim.spec).toMatchObject({ volumeName: pv.metadata.name, storageClassName: '', accessModes: ['ReadOnlyMany'] });
    // The client pods mount the claim, which "restricted" allows; the agent pod mounts no hostPath.
    expect(restrictedProblems(agent(objects))).toEqual([]);
    expect(await refused({ data: { source: 'hostPath', hostPath: { path: '/srv/records' } } })).toContain('data.source hostPath needs data.hostPath.path and data.hostPath.nodeName');
  });
});

describe('site chart: NetworkPolicies', () => {
  const dns = {
    ports: [
      { port: 53, protocol: 'UDP' },
      { port: 53, protocol: 'TCP' },
    ],
    to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
  };
  const tcp = (...ports: number[]) => ports.map((port) => ({ port, protocol: 'TCP' }));

  test('nothing in; the agent out to the hub, the API server and DNS; the clients to the aggregators and DNS', async () => {
    const policies = all(await site(), 'NetworkPolicy');
    const [agentPolicy, clients] = [policies.find((p) => p.metadata.name.endsWith('-agent'))!.spec, policies.find((p) => p.metadata.name.endsWith('-clients'))!.spec];
    for (const p of [agentPolicy, clients]) {
      expect(p.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(p.ingress).toEqual([]);
    }
    expect(agentPolicy.podSelector.matchLabels['app.kubernetes.io/component']).toBe('site-agent');
    expect(agentPolicy.egress).toEqual([{ ports: tcp(7443, 7444) }, { ports: tcp(443, 6443) }, dns]);
    expect(clients.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/managed-by': 'flotilla-site-agent', 'app.kubernetes.io/component': 'client' });
    expect(clients.egress).toEqual([{ ports: tcp(8443) }, dns]);
  });

  test('narrowed to the hub\'s and the aggregators\' addresses', async () => {
    const policies = all(
      await site({ networkPolicy: { hub: { cidrs: ['203.0.113.10/32'], ports: [443] }, aggregators: { cidrs: ['203.0.113.0/28'], ports: [443, 8443] }, apiServer: { cidrs: ['10.0.0.1/32'], ports: [6443] } } }),
      'NetworkPolicy',
    );
    expect(policies[0]!.spec.egress.slice(0, 2)).toEqual([
      { ports: tcp(443), to: [{ ipBlock: { cidr: '203.0.113.10/32' } }] },
      { ports: tcp(6443), to: [{ ipBlock: { cidr: '10.0.0.1/32' } }] },
    ]);
    expect(policies[1]!.spec.egress[0]).toEqual({ ports: tcp(443, 8443), to: [{ ipBlock: { cidr: '203.0.113.0/28' } }] });
    expect(all(await site({ networkPolicy: { enabled: false } }), 'NetworkPolicy')).toEqual([]);
  });
});

describe('site chart: monitoring', () => {
  test("a PodMonitor for the agent's /metrics on request, keeping its labels; metricsFrom lets Prometheus through the policy", async () => {
    expect(all(await site(), 'PodMonitor')).toEqual([]);
    const prometheus = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const objects = await site({ metrics: { podMonitor: { enabled: true, labels: { release: 'prom' } } }, networkPolicy: { metricsFrom: prometheus } });
    const pm = one(objects, 'PodMonitor');
    expect(pm.metadata.labels?.release).toBe('prom');
    expect(pm.spec.selector.matchLabels).toEqual(one(objects, 'Deployment').spec.selector.matchLabels);
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: ['flotilla'] });
    // The agent's health port (8081, named health) serves /metrics too.
    expect(pm.spec.podMetricsEndpoints).toEqual([{ port: 'health', path: '/metrics', interval: '30s', honorLabels: true }]);
    expect(args(objects)).toContain('--listen-health=0.0.0.0:8081');
    const agentPolicy = all(objects, 'NetworkPolicy').find((p) => p.metadata.name.endsWith('-agent'))!.spec;
    expect(agentPolicy.ingress).toEqual([{ from: prometheus, ports: [{ port: 'health', protocol: 'TCP' }] }]);
  });
});

describe('site chart: the schema refuses what would not work', () => {
  test.each([
    [{ join: { token: 'not-a-token' } }, '/join/token'],
    [{ hub: { address: 'hub.example.org' } }, '/hub/address'],
    [{ policy: { maxConcurrentJobs: -1 } }, '/policy/maxConcurrentJobs'],
    [{ policy: { maxMemory: 'lots' } }, '/policy/maxMemory'],
    [{ policy: { allowGPU: true } }, "additional properties 'allowGPU' not allowed"],
    [{ data: { source: 'nfs' } }, '/data/source'],
    [{ data: { hostPath: { path: 'srv/records' } } }, '/data/hostPath/path'],
    [{ data: { pvc: { accessModes: ['ReadWriteSometimes'] } } }, '/data/pvc/accessModes/0'],
    [{ networkPolicy: { hub: { ports: [] } } }, '/networkPolicy/hub/ports'],
  ])('%j', async (values, where) => {
    const message = await refused(values);
    expect(message).toContain("values don't meet the specifications of the schema");
    expect(message).toContain(where);
  });
});
