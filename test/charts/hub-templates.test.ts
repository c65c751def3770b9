/**
 * The hub chart as `helm template` renders it: what it lets the operator do, how its pods run, what
 * its NetworkPolicies let through, how the gateway is exposed, and what its schema and its checks
 * refuse, for default and non-default values.
 */
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { all, helmBinary, HUB_CHART, one, refusal, render, type Rendered } from './helm.js';
import { restrictedProblems } from './pod-security.js';
import { operatorClusterRole, operatorRole, tenantRoles } from '../../operator/hub/rbac.js';

jest.setTimeout(60_000);

const hub = (values: unknown = {}) => render(HUB_CHART, values);
const refused = (values: unknown) => refusal(HUB_CHART, values);
const args = (objects: Rendered[]) => one(objects, 'Deployment').spec.template.spec.containers[0].args as string[];
const flag = (objects: Rendered[], name: string) => args(objects).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rules = (role: Rendered) =>
  (role.rules as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[]).flatMap((r) =>
    r.apiGroups.flatMap((g) => r.resources.map((res) => `${g || 'core'}/${res}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}: ${r.verbs.join(' ')}`)),
  );

beforeAll(() => helmBinary(), 15 * 60_000);

describe('hub chart: RBAC', () => {
  test('the operator may do exactly what its code does (operator/hub/rbac.ts), and nothing on nodes, RBAC or other kinds', async () => {
    const objects = await hub();
    const code = (role: { rules?: unknown }) => rules(role as Rendered).sort();
    const clusterRole = one(objects, 'ClusterRole', 'flotilla-operator');
    expect(rules(clusterRole).sort()).toEqual(code(operatorClusterRole()));
    // Outside its namespace, Secrets may only be created.
    expect(rules(clusterRole)).toContain('core/secrets: create');
    // In the operator's namespace only: its keys, tokens and revoked sites, and its Lease.
    const roles = all(objects, 'Role');
    for (const role of roles) expect(role.metadata.namespace).toBe('flotilla-system');
    expect(roles.flatMap(rules).sort()).toEqual(code(operatorRole('flotilla-system')));
    const subjects = [...all(objects, 'ClusterRoleBinding'), ...all(objects, 'RoleBinding')].map((b) => b.subjects);
    expect(subjects).toHaveLength(3);
    for (const s of subjects) expect(s).toEqual([{ kind: 'ServiceAccount', name: 'flotilla-operator', namespace: 'flotilla-system' }]);
    expect(one(objects, 'Deployment').spec.template.spec.serviceAccountName).toBe('flotilla-operator');
  });

  test("tenants' roles are exactly tenantRoles() of operator/hub/rbac.ts: FederatedJobs aggregated into edit, admin and view, no Sites", async () => {
    const aggregation = (role: { metadata?: { labels?: Record<string, string> } }) =>
      Object.keys(role.metadata?.labels ?? {})
        .filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-'))
        .sort();
    const shape = (role: { metadata?: { name?: string; labels?: Record<string, string> }; rules?: unknown }) => ({
      name: role.metadata?.name,
      aggregateTo: aggregation(role),
      rules: rules(role as Rendered).sort(),
    });
    const rendered = all(await hub(), 'ClusterRole').filter((r) => r.metadata.name !== 'flotilla-operator');
    expect(rendered.map(shape)).toEqual(tenantRoles().map(shape));
    expect(rendered.flatMap(rules).filter((r) => r.includes('sites'))).toEqual([]);
    // Named after the release, like the chart's other cluster-wide objects; off on request.
    expect(all(await render(HUB_CHART, {}, { release: 'hub-b' }), 'ClusterRole').map((r) => r.metadata.name).sort()).toEqual([
      'hub-b-flotilla-federatedjobs-edit',
      'hub-b-flotilla-federatedjobs-view',
      'hub-b-flotilla-operator',
    ]);
    expect(all(await hub({ rbac: { tenantRoles: false } }), 'ClusterRole').map((r) => r.metadata.name)).toEqual(['flotilla-operator']);
  });

  test('without leader election there is no Lease to touch; with an existing ServiceAccount no RBAC is made', async () => {
    const single = all(await hub({ operator: { leaderElection: { enabled: false } } }), 'Role');
    expect(single.flatMap(rules).filter((r) => r.includes('leases'))).toEqual([]);
    const objects = await hub({ serviceAccount: { create: false, name: 'platform-made' } });
    // The tenants' roles are not the operator's: they stay.
    const tenants = tenantRoles().map((r) => r.metadata!.name);
    expect(objects.filter((o) => /Role|ServiceAccount/.test(o.kind) && !tenants.includes(o.metadata.name))).toEqual([]);
    expect(one(objects, 'Deployment').spec.template.spec.serviceAccountName).toBe('platform-made');
    expect(await refused({ serviceAccount: { create: false } })).toContain('serviceAccount.name is required when serviceAccount.create is false');
  });
});

describe('hub chart: the Lease in a priority level of its own', () => {
  test("a FlowSchema for the operator's ServiceAccount and exactly the Lease verbs its Role grants; none without a Lease or when turned off", async () => {
    const schema = one(await hub({ serviceAccount: { create: false, name: 'platform-made' } }), 'FlowSchema', 'flotilla-operator-leader-election');
    const leaseVerbs = operatorRole('flotilla-system').rules!.filter((r) => r.resources?.includes('leases')).flatMap((r) => r.verbs);
    expect(schema.spec).toMatchObject({
      priorityLevelConfiguration: { name: 'leader-election' },
      rules: [
        {
          subjects: [{ kind: 'ServiceAccount', serviceAccount: { name: 'platform-made', namespace: 'flotilla-system' } }],
          resourceRules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], namespaces: ['flotilla-system'] }],
        },
      ],
    });
    expect([...schema.spec.rules[0].resourceRules[0].verbs].sort()).toEqual([...new Set(leaseVerbs)].sort());
    expect(all(await hub({ operator: { leaderElection: { enabled: false } } }), 'FlowSchema')).toEqual([]);
    expect(all(await hub({ operator: { leaderElection: { flowSchema: false } } }), 'FlowSchema')).toEqual([]);
  });
});

describe('hub chart: the operator pod', () => {
  test('meets Pod Security "restricted", with probes on the health port and resources', async () => {
    for (const values of [{}, { operator: { replicas: 3, securityContext: { runAsUser: null, runAsGroup: null } } }]) {
      const pod = one(await hub(values), 'Deployment').spec.template.spec;
      expect(restrictedProblems(pod)).toEqual([]);
      const container = pod.containers[0];
      expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
      expect([container.livenessProbe.httpGet, container.readinessProbe.httpGet]).toEqual([
        { path: '/healthz', port: 'health' },
        { path: '/readyz', port: 'health' },
      ]);
      expect(container.ports.find((p: { name: string }) => p.name === 'health').containerPort).toBe(8081);
      expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    }
  });

  test('runs `flotilla operator` with the flags the values say', async () => {
    const objects = await hub({ gateway: { host: 'hub.example.org' } });
    const deployment = one(objects, 'Deployment');
    expect(deployment.spec.template.spec.containers[0].command).toEqual(['flotilla']);
    expect(args(objects)).toEqual([
      'operator',
      '--listen-health=0.0.0.0:8081',
      '--gateway-listen=0.0.0.0:7443',
      '--enrollment-listen=0.0.0.0:7444',
      '--gateway-address=hub.example.org:7443',
      '--enrollment-address=hub.example.org:7444',
      '--image=localhost/flotilla:0.1.0',
      '--leader-elect=true',
      '--aggregator-service-type=LoadBalancer',
      '--join-token-ttl=86400',
      '--site-cleanup-grace=600',
      '--shutdown-timeout=20',
    ]);
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBe(45);
    const version = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
    expect(deployment.spec.template.spec.containers[0].image).toBe(`localhost/flotilla:${version}`);

    const other = await hub({
      image: { repository: 'registry.example.org/flotilla', digest: `sha256:${'a'.repeat(64)}` },
      jobImage: 'registry.example.org/flotilla:0.1.0-jobs',
      operator: { replicas: 2, shutdownTimeoutSeconds: 30, joinTokenTtlSeconds: 3600, logLevel: 'debug' },
      aggregators: { serviceType: 'ClusterIP', addressTemplate: '{job}-{namespace}.fl.example.org:443' },
    });
    expect(one(other, 'Deployment').spec.template.spec.containers[0].image).toBe(`registry.example.org/flotilla@sha256:${'a'.repeat(64)}`);
    expect(flag(other, 'image')).toBe('registry.example.org/flotilla:0.1.0-jobs');
    expect(flag(other, 'aggregator-service-type')).toBe('ClusterIP');
    expect(flag(other, 'aggregator-address-template')).toBe('{job}-{namespace}.fl.example.org:443');
    expect(flag(other, 'join-token-ttl')).toBe('3600');
    expect(one(other, 'Deployment').spec.template.spec.terminationGracePeriodSeconds).toBe(65);
    expect(one(other, 'Deployment').spec.template.spec.containers[0].env).toContainEqual({ name: 'FLOTILLA_LOG_LEVEL', value: 'debug' });
  });

  test("the hub's audit trail on the platform team's claim, written by the operator's group; none without one", async () => {
    expect(flag(await hub(), 'audit-file')).toBeUndefined();
    const objects = await hub({ audit: { claimName: 'hub-audit' } });
    const pod = one(objects, 'Deployment').spec.template.spec;
    expect(flag(objects, 'audit-file')).toBe('/var/lib/flotilla/audit/operator.jsonl');
    expect(pod.volumes).toContainEqual({ name: 'audit', persistentVolumeClaim: { claimName: 'hub-audit' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'audit', mountPath: '/var/lib/flotilla/audit' });
    expect(pod.securityContext.fsGroup).toBe(65532);
    expect(restrictedProblems(pod)).toEqual([]);
  });

  test('several replicas are spread over nodes and rolled one at a time; without a Lease there is one, recreated', async () => {
    const two = one(await hub({ operator: { replicas: 2 } }), 'Deployment').spec;
    expect(two.replicas).toBe(2);
    expect(two.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(two.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    const alone = await hub({ operator: { leaderElection: { enabled: false } } });
    expect(one(alone, 'Deployment').spec.strategy).toEqual({ type: 'Recreate' });
    expect(flag(alone, 'leader-elect')).toBe('false');
    expect(await refused({ operator: { replicas: 2, leaderElection: { enabled: false } } })).toContain(
      'operator.replicas above 1 needs operator.leaderElection.enabled',
    );
  });

  test('a PodDisruptionBudget only on request, and only with replicas to spare', async () => {
    expect(all(await hub(), 'PodDisruptionBudget')).toEqual([]);
    const pdb = one(await hub({ operator: { replicas: 2 }, podDisruptionBudget: { enabled: true } }), 'PodDisruptionBudget');
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(pdb.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('operator');
    expect(await refused({ podDisruptionBudget: { enabled: true } })).toContain('podDisruptionBudget.enabled needs operator.replicas of 2 or more');
  });
});

describe('hub chart: exposing the gateway', () => {
  const ports = (svc: Rendered) => svc.spec.ports.map((p: { name: string; port: number; nodePort?: number }) => [p.name, p.port, p.nodePort]);

  test('a LoadBalancer by default, limited to the given source ranges', async () => {
    const objects = await hub({ gateway: { host: 'hub.example.org', service: { loadBalancerSourceRanges: ['192.0.2.0/24'] } } });
    const svc = one(objects, 'Service', 'flotilla-gateway');
    expect(svc.spec.type).toBe('LoadBalancer');
    expect(svc.spec.loadBalancerSourceRanges).toEqual(['192.0.2.0/24']);
    expect(ports(svc)).toEqual([
      ['gateway', 7443, undefined],
      ['enrollment', 7444, undefined],
    ]);
    // The leader's pod only: it labels itself when it takes the Lease.
    expect(svc.spec.selector).toMatchObject({ 'app.kubernetes.io/component': 'operator', 'flotilla.dev/leader': 'true' });
  });

  test('without a host the bundles name the in-cluster Service', async () => {
    const objects = await hub();
    expect([flag(objects, 'gateway-address'), flag(objects, 'enrollment-address')]).toEqual([
      'flotilla-gateway.flotilla-system.svc:7443',
      'flotilla-gateway.flotilla-system.svc:7444',
    ]);
  });

  test('NodePort: the bundles name the nodePorts, which must therefore be given', async () => {
    const objects = await hub({ gateway: { host: '198.51.100.7', service: { type: 'NodePort', nodePort: 30743, enrollmentNodePort: 30744 } } });
    expect(ports(one(objects, 'Service', 'flotilla-gateway'))).toEqual([
      ['gateway', 7443, 30743],
      ['enrollment', 7444, 30744],
    ]);
    expect([flag(objects, 'gateway-address'), flag(objects, 'enrollment-address')]).toEqual(['198.51.100.7:30743', '198.51.100.7:30744']);
    expect(await refused({ gateway: { service: { type: 'NodePort' } } })).toContain('gateway.service.type NodePort needs gateway.service.nodePort');
  });

  test('an Ingress with TLS passthrough: two names on 443, a ClusterIP Service behind', async () => {
    const values = {
      gateway: {
        host: 'hub.example.org',
        enrollmentHost: 'enrol.hub.example.org',
        service: { type: 'ClusterIP' },
        ingress: { enabled: true, className: 'nginx', annotations: { 'nginx.ingress.kubernetes.io/ssl-passthrough': 'true' } },
      },
    };
    const objects = await hub(values);
    const ingress = one(objects, 'Ingress');
    expect(ingress.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/ssl-passthrough': 'true' });
    expect(ingress.spec.tls).toBeUndefined(); // the controller must not terminate TLS
    expect(ingress.spec.rules.map((r: { host: string; http: { paths: { backend: { service: { port: { name: string } } } }[] } }) => [r.host, r.http.paths[0]!.backend.service.port.name])).toEqual([
      ['hub.example.org', 'gateway'],
      ['enrol.hub.example.org', 'enrollment'],
    ]);
    expect([flag(objects, 'gateway-address'), flag(objects, 'enrollment-address')]).toEqual(['hub.example.org:443', 'enrol.hub.example.org:443']);
    expect(await refused({ gateway: { ...values.gateway, service: { type: 'LoadBalancer' } } })).toContain('need gateway.service.type ClusterIP');
    expect(await refused({ gateway: { ...values.gateway, enrollmentHost: 'hub.example.org' } })).toContain('two different names');
  });

  test('Gateway API TLSRoutes, one per port, attached to the given listener', async () => {
    const parentRefs = [{ name: 'edge', namespace: 'gateways', sectionName: 'tls-passthrough' }];
    const objects = await hub({
      gateway: { host: 'hub.example.org', enrollmentHost: 'enrol.hub.example.org', service: { type: 'ClusterIP' }, tlsRoute: { enabled: true, parentRefs } },
    });
    const routes = all(objects, 'TLSRoute');
    expect(routes.map((r) => [r.apiVersion, r.spec.hostnames, r.spec.rules[0].backendRefs[0]])).toEqual([
      ['gateway.networking.k8s.io/v1alpha2', ['enrol.hub.example.org'], { name: 'flotilla-gateway', port: 7444 }],
      ['gateway.networking.k8s.io/v1alpha2', ['hub.example.org'], { name: 'flotilla-gateway', port: 7443 }],
    ]);
    for (const r of routes) expect(r.spec.parentRefs).toEqual(parentRefs);
    expect(await refused({ gateway: { host: 'a.example.org', enrollmentHost: 'b.example.org', service: { type: 'ClusterIP' }, tlsRoute: { enabled: true } } })).toContain(
      'gateway.tlsRoute.enabled needs gateway.tlsRoute.parentRefs',
    );
  });
});

describe('hub chart: NetworkPolicies', () => {
  test('the operator: gateway and health ports in; the API server and the aggregators\' /status out; no DNS', async () => {
    const policy = one(await hub(), 'NetworkPolicy').spec;
    expect(policy.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.podSelector.matchLabels['app.kubernetes.io/component']).toBe('operator');
    expect(policy.ingress).toEqual([
      { ports: [{ port: 7443, protocol: 'TCP' }, { port: 7444, protocol: 'TCP' }] },
      { ports: [{ port: 8081, protocol: 'TCP' }] },
    ]);
    expect(policy.egress).toEqual([
      { ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] },
      {
        ports: [{ port: 9090, protocol: 'TCP' }],
        to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'flotilla-operator', 'app.kubernetes.io/component': 'aggregator' } } }],
      },
    ]);
  });

  test('narrowed peers, and the aggregators of the listed namespaces, which reach nothing', async () => {
    const prometheus = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
    const hospitals = { ipBlock: { cidr: '192.0.2.0/24' } };
    const objects = await hub({
      networkPolicy: {
        gatewayFrom: [hospitals],
        metricsFrom: [prometheus],
        apiServer: { cidrs: ['10.0.0.1/32'], ports: [6443] },
        aggregators: { namespaces: ['cardiology', 'oncology'], grpcFrom: [hospitals] },
      },
    });
    const policies = all(objects, 'NetworkPolicy');
    const operator = policies.find((p) => p.metadata.namespace === 'flotilla-system')!.spec;
    expect(operator.ingress.map((r: { from: unknown }) => r.from)).toEqual([[hospitals], [prometheus]]);
    expect(operator.egress[0]).toEqual({ ports: [{ port: 6443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.0.0.1/32' } }] });
    const aggregators = policies.filter((p) => p.metadata.namespace !== 'flotilla-system');
    expect(aggregators.map((p) => p.metadata.namespace)).toEqual(['cardiology', 'oncology']);
    for (const p of aggregators) {
      expect(p.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/managed-by': 'flotilla-operator', 'app.kubernetes.io/component': 'aggregator' });
      expect(p.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(p.spec.egress).toEqual([]);
      expect(p.spec.ingress).toEqual([
        { ports: [{ port: 8443, protocol: 'TCP' }], from: [hospitals] },
        {
          ports: [{ port: 9090, protocol: 'TCP' }],
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'flotilla-system' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'flotilla', 'app.kubernetes.io/instance': 'flotilla', 'app.kubernetes.io/component': 'operator' } },
            },
            prometheus,
          ],
        },
      ]);
    }
    expect(all(await hub({ networkPolicy: { enabled: false, aggregators: { namespaces: ['cardiology'] } } }), 'NetworkPolicy')).toEqual([]);
  });
});

describe('hub chart: CRDs', () => {
  const crdFiles = readdirSync(path.join(packageRoot, 'crds')).sort();

  test("the chart's CRD files are the repository's crds/, byte for byte", () => {
    expect(readdirSync(path.join(HUB_CHART, 'files/crds')).sort()).toEqual(crdFiles);
    for (const file of crdFiles) {
      const chartCopy = readFileSync(path.join(HUB_CHART, 'files/crds', file), 'utf8');
      // If this fails: cp crds/*.yaml charts/flotilla/files/crds/
      expect({ file, text: chartCopy }).toEqual({ file, text: readFileSync(path.join(packageRoot, 'crds', file), 'utf8') });
    }
  });

  test('rendered as the files say, plus labels and, by default, the keep policy', async () => {
    const rendered = all(await hub(), 'CustomResourceDefinition');
    expect(rendered.map((c) => c.metadata.name).sort()).toEqual(['federatedjobs.flotilla.dev', 'sites.flotilla.dev']);
    for (const file of crdFiles) {
      const source = YAML.parse(readFileSync(path.join(packageRoot, 'crds', file), 'utf8'));
      const crd = rendered.find((c) => c.metadata.name === source.metadata.name)!;
      expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      expect(crd.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
      expect({ ...crd, metadata: { name: crd.metadata.name } }).toEqual(source);
    }
    for (const crd of all(await hub({ crds: { keep: false } }), 'CustomResourceDefinition')) expect(crd.metadata.annotations).toBeUndefined();
    expect(all(await hub({ crds: { install: false } }), 'CustomResourceDefinition')).toEqual([]);
  });
});

describe('hub chart: monitoring', () => {
  test('a metrics Service over every replica, and the prometheus-operator objects on request', async () => {
    const objects = await hub();
    const metrics = one(objects, 'Service', 'flotilla-metrics');
    expect(metrics.spec.publishNotReadyAddresses).toBe(true);
    expect(all(objects, 'ServiceMonitor').concat(all(objects, 'PodMonitor'))).toEqual([]);
    const on = await hub({ metrics: { serviceMonitor: { enabled: true, labels: { release: 'prom' } }, podMonitor: { enabled: true } } });
    const sm = one(on, 'ServiceMonitor');
    expect(sm.metadata.labels?.release).toBe('prom');
    expect(sm.spec.selector.matchLabels).toEqual(
      Object.fromEntries(['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component'].map((k) => [k, metrics.metadata.labels?.[k]])),
    );
    // honorLabels: the operator's series name the job's namespace, not the operator pod's.
    expect(sm.spec.endpoints).toEqual([{ port: 'http-metrics', path: '/metrics', interval: '30s', honorLabels: true }]);
    const pm = one(on, 'PodMonitor');
    expect(pm.spec.namespaceSelector).toEqual({ any: true });
    expect(pm.spec.podMetricsEndpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', honorLabels: true }]);
  });
});

describe('hub chart: the schema refuses what would not work', () => {
  test.each([
    [{ operator: { replicas: 0 } }, '/operator/replicas'],
    [{ operator: { replica: 2 } }, "additional properties 'replica' not allowed"],
    [{ operator: { logLevel: 'verbose' } }, '/operator/logLevel'],
    [{ gateway: { host: 'hub.example.org:7443' } }, '/gateway/host'],
    [{ gateway: { service: { type: 'Ingress' } } }, '/gateway/service/type'],
    [{ gateway: { service: { port: 70000 } } }, '/gateway/service/port'],
    [{ image: { digest: 'latest' } }, '/image/digest'],
    [{ aggregators: { serviceType: 'NodePort' } }, '/aggregators/serviceType'],
    [{ aggregators: { addressTemplate: '{job}.fl.example.org' } }, '/aggregators/addressTemplate'],
    [{ networkPolicy: { apiServer: { cidrs: ['10.0.0.1'] } } }, '/networkPolicy/apiServer/cidrs/0'],
    [{ crds: { keep: 'yes' } }, '/crds/keep'],
  ])('%j', async (values, where) => {
    const message = await refused(values);
    expect(message).toContain('values don\'t meet the specifications of the schema');
    expect(message).toContain(where);
  });
});
