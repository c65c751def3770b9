/**
 * The hub chart installed, upgraded and uninstalled with the pinned helm into a real kube-apiserver
 * (with kube-controller-manager: ReplicaSets, pods, garbage collection): the API server accepts
 * every object, Pod Security "restricted" admits the operator's pod, the ServiceAccount may do what
 * the operator does and no more, a changed value takes effect, and an uninstall leaves nothing
 * behind but the CRDs (and the Sites in them) when they are kept.
 */
import type http from 'node:http';
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { canI, difference, eventually, everyObject, restrictedNamespace } from './cluster.js';
import { helm, helmBinary, helmOk, HUB_CHART, valuesFile } from './helm.js';

jest.setTimeout(180_000);

const NS = 'flotilla-system';
const values = { gateway: { host: 'hub.example.org' }, networkPolicy: { aggregators: { namespaces: ['cardiology'] } } };
const site = { apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'cleveland' }, spec: { displayName: 'Cleveland Clinic' } };

let cluster: ControlPlane;
let baseline: Set<string>;
const kubectl = (...args: string[]) => cluster.kubectl(args);
const json = async <T>(...args: string[]) => JSON.parse(await kubectl(...args, '--output=json')) as T;
const helmIn = (args: string[]) => helmOk(args, { kubeconfig: cluster.kubeconfigPath });
const install = (extra: unknown = {}) => helmIn(['install', 'flotilla', HUB_CHART, '--namespace', NS, '-f', valuesFile(values), '-f', valuesFile(extra)]);

interface Deployment {
  spec: { replicas: number; template: { spec: { containers: { args: string[]; env: { name: string; value?: string }[] }[] } } };
}

beforeAll(() => Promise.all([resolveBinDir(), helmBinary()]), 30 * 60_000);

beforeAll(async () => {
  cluster = await startControlPlane({ name: 'charts-hub', withControllerManager: true });
  await restrictedNamespace(cluster, NS);
  await restrictedNamespace(cluster, 'cardiology');
  baseline = await everyObject(cluster);
});

afterAll(async () => {
  await cluster?.stop();
});

/** The FlowSchema and priority level the API server put a GET of `path` by `user` in (from its response headers). */
async function classified(path: string, user: string): Promise<{ flowSchema?: string; priorityLevel?: string }> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const options: https.RequestOptions = { method: 'GET', headers: { 'Impersonate-User': user, 'Impersonate-Group': 'system:serviceaccounts' } };
  await kc.applyToHTTPSOptions(options);
  const headers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
    const req = https.request(new URL(path, kc.getCurrentCluster()!.server), options, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers));
    });
    req.on('error', reject);
    req.end();
  });
  const header = (name: string) => headers[name] as string | undefined;
  return { flowSchema: header('x-kubernetes-pf-flowschema-uid'), priorityLevel: header('x-kubernetes-pf-prioritylevel-uid') };
}

describe('the hub chart in a real API server', () => {
  test('installs: every object accepted, the operator pod admitted under "restricted", NOTES say what to do next', async () => {
    const result = await helm(['install', 'flotilla', HUB_CHART, '--namespace', NS, '-f', valuesFile(values)], { kubeconfig: cluster.kubeconfigPath });
    expect(result.stderr).toBe(''); // no Pod Security warning, no deprecated API
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("kubectl -n flotilla-system get secret flotilla-join-bundle-cleveland -o jsonpath='{.data.bundle}' | base64 -d > cleveland.join");
    expect(result.stdout).toContain('gateway (mutual TLS)  hub.example.org:7443');

    // Polled: kubectl wait fails outright while a new CRD has no conditions yet.
    for (const crd of ['federatedjobs.flotilla.dev', 'sites.flotilla.dev']) {
      await eventually(async () => (await kubectl('get', 'crd', crd, '--output=jsonpath={.status.conditions[?(@.type=="Established")].status}')) === 'True', 60_000, `${crd} Established`);
    }
    const added = difference(baseline, await everyObject(cluster)).added;
    for (const object of [
      'CustomResourceDefinition federatedjobs.flotilla.dev',
      'CustomResourceDefinition sites.flotilla.dev',
      'ClusterRole flotilla-operator',
      'ClusterRole flotilla-federatedjobs-edit',
      'ClusterRole flotilla-federatedjobs-view',
      'ClusterRoleBinding flotilla-operator',
      'FlowSchema flotilla-operator-leader-election',
      'Role flotilla-system/flotilla-leader-election',
      'RoleBinding flotilla-system/flotilla-leader-election',
      'ServiceAccount flotilla-system/flotilla-operator',
      'Deployment flotilla-system/flotilla-operator',
      'Service flotilla-system/flotilla-gateway',
      'Service flotilla-system/flotilla-metrics',
      'NetworkPolicy flotilla-system/flotilla-operator',
      'NetworkPolicy cardiology/flotilla-aggregators',
    ]) {
      expect(added).toContain(object);
    }
    // The ReplicaSet's pod exists: the namespace's Pod Security admission ("restricted", enforced) let it in.
    await eventually(async () => (await json<{ items: unknown[] }>('get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/component=operator')).items.length === 1, 60_000, 'the operator pod');
    const events = await kubectl('get', 'events', '-n', NS, '--field-selector=reason=FailedCreate', '--output=name');
    expect(events.trim()).toBe('');
    // A LoadBalancer Service got its node ports from the API server.
    const gateway = await json<{ spec: { type: string; ports: { nodePort?: number }[] } }>('get', 'service', 'flotilla-gateway', '-n', NS);
    expect(gateway.spec.type).toBe('LoadBalancer');
    expect(gateway.spec.ports.every((p) => (p.nodePort ?? 0) > 0)).toBe(true);
  });

  test("the operator's ServiceAccount may do what the operator does, and nothing it does not", async () => {
    const allowed = await canI(cluster, NS, 'flotilla-operator', [
        'watch federatedjobs.flotilla.dev *',
        'patch federatedjobs.flotilla.dev cardiology --subresource=status',
        'patch sites.flotilla.dev --subresource=status',
        'create deployments.apps cardiology',
        'delete services cardiology',
        'create secrets cardiology',
        'get secrets flotilla-system',
        'create events default',
        'update leases/flotilla-operator',
        'create leases',
        'patch pods flotilla-system',
    ]);
    expect(Object.entries(allowed).filter(([, yes]) => !yes)).toEqual([]);
    const denied = await canI(cluster, NS, 'flotilla-operator', [
      'delete federatedjobs.flotilla.dev cardiology',
      'update federatedjobs.flotilla.dev cardiology',
      'create sites.flotilla.dev',
      'delete sites.flotilla.dev',
      'update sites.flotilla.dev --subresource=status',
      'get configmaps cardiology',
      'create pods cardiology',
      'create pods cardiology --subresource=exec',
      'get nodes',
      'create clusterrolebindings',
      'escalate clusterroles',
      'impersonate serviceaccounts',
      'update leases/kube-controller-manager kube-system',
      'update leases/another-lease',
      'create leases cardiology',
      'patch pods cardiology',
      'delete pods flotilla-system',
    ]);
    expect(Object.entries(denied).filter(([, yes]) => yes)).toEqual([]);
  });

  test("the operator's requests on its Lease, and only those, go to the API server's leader-election priority level", async () => {
    const uid = (kind: string, name: string) => kubectl('get', kind, name, '--output=jsonpath={.metadata.uid}');
    const [ours, leaderElection, serviceAccounts, workloadLow] = await Promise.all([
      uid('flowschema', 'flotilla-operator-leader-election'),
      uid('prioritylevelconfiguration', 'leader-election'),
      uid('flowschema', 'service-accounts'),
      uid('prioritylevelconfiguration', 'workload-low'),
    ]);
    const operator = `system:serviceaccount:${NS}:flotilla-operator`;
    // A Lease of its namespace, read as the operator: the API server says how it classified the request.
    expect(await classified(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/flotilla-operator`, operator)).toEqual({ flowSchema: ours, priorityLevel: leaderElection });
    // Its other requests stay with every ServiceAccount's, and another ServiceAccount's Lease requests too.
    expect(await classified(`/api/v1/namespaces/${NS}/configmaps`, operator)).toEqual({ flowSchema: serviceAccounts, priorityLevel: workloadLow });
    expect(await classified(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/flotilla-operator`, `system:serviceaccount:${NS}:default`)).toEqual({
      flowSchema: serviceAccounts,
      priorityLevel: workloadLow,
    });
  });

  test('a tenant with `edit` in a namespace runs FederatedJobs there (the chart\'s roles aggregate into it), and touches no Site', async () => {
    await kubectl('create', 'serviceaccount', 'tenant', '-n', 'cardiology');
    await kubectl('create', 'rolebinding', 'tenant-edit', '--clusterrole=edit', '--serviceaccount=cardiology:tenant', '-n', 'cardiology');
    await kubectl('create', 'rolebinding', 'tenant-view', '--clusterrole=view', '--serviceaccount=cardiology:tenant', '-n', NS);
    // kube-controller-manager's aggregation controller copies the rules into edit and view.
    const can = (checks: string[]) => canI(cluster, 'cardiology', 'tenant', checks);
    await eventually(async () => Object.values(await can(['create federatedjobs.flotilla.dev', `list federatedjobs.flotilla.dev ${NS}`])).every(Boolean), 60_000, 'edit and view to grant FederatedJobs');
    const allowed = await can(['get federatedjobs.flotilla.dev', 'delete federatedjobs.flotilla.dev', 'patch federatedjobs.flotilla.dev --subresource=status', `watch federatedjobs.flotilla.dev ${NS}`]);
    expect(Object.entries(allowed).filter(([, yes]) => !yes)).toEqual([]);
    const denied = await can([
      `create federatedjobs.flotilla.dev ${NS}`,
      'create federatedjobs.flotilla.dev default',
      'get sites.flotilla.dev',
      'list sites.flotilla.dev',
      'create sites.flotilla.dev',
      `get secrets ${NS}`,
    ]);
    expect(Object.entries(denied).filter(([, yes]) => yes)).toEqual([]);
    // Gone again, so that the uninstall below finds only the chart's objects.
    await kubectl('delete', 'rolebinding', 'tenant-view', '-n', NS, '--wait');
    await kubectl('delete', 'rolebinding', 'tenant-edit', '-n', 'cardiology', '--wait');
    await kubectl('delete', 'serviceaccount', 'tenant', '-n', 'cardiology', '--wait');
  });

  test('upgrades: changed values take effect in the live objects', async () => {
    await helmIn([
      'upgrade',
      'flotilla',
      HUB_CHART,
      '--namespace',
      NS,
      '-f',
      valuesFile(values),
      '-f',
      valuesFile({ operator: { replicas: 2, logLevel: 'debug' }, gateway: { service: { type: 'NodePort', nodePort: 30743, enrollmentNodePort: 30744 } } }),
    ]);
    const deployment = await json<Deployment>('get', 'deployment', 'flotilla-operator', '-n', NS);
    expect(deployment.spec.replicas).toBe(2);
    const container = deployment.spec.template.spec.containers[0]!;
    expect(container.args).toContain('--gateway-address=hub.example.org:30743');
    expect(container.env).toContainEqual({ name: 'FLOTILLA_LOG_LEVEL', value: 'debug' });
    const gateway = await json<{ spec: { type: string; ports: { name: string; nodePort: number }[] } }>('get', 'service', 'flotilla-gateway', '-n', NS);
    expect([gateway.spec.type, gateway.spec.ports.map((p) => [p.name, p.nodePort])]).toEqual([
      'NodePort',
      [
        ['gateway', 30743],
        ['enrollment', 30744],
      ],
    ]);
    // The rollout replaces one pod at a time and waits for readiness, which nothing here reports
    // (no kubelet): the new template's first pod is what shows the change was rolled out.
    const debugPods = async () =>
      (await json<{ items: { spec: { containers: { env: { name: string; value?: string }[] }[] } }[] }>('get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/component=operator')).items.filter(
        (p) => p.spec.containers[0]!.env.some((e) => e.name === 'FLOTILLA_LOG_LEVEL' && e.value === 'debug'),
      ).length;
    await eventually(async () => (await debugPods()) >= 1, 60_000, 'a pod of the new template');
    expect(JSON.parse(await helmIn(['history', 'flotilla', '--namespace', NS, '--output=json'])).map((r: { revision: number; status: string }) => [r.revision, r.status])).toEqual([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);
  });

  test('uninstalls, keeping the CRDs and the Sites in them; a new install adopts them', async () => {
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(site));
    await helmIn(['uninstall', 'flotilla', '--namespace', NS]);
    // The API server serves a kept CRD's group through an APIService of its own.
    const kept = ['APIService v1alpha1.flotilla.dev', 'CustomResourceDefinition federatedjobs.flotilla.dev', 'CustomResourceDefinition sites.flotilla.dev', 'Site cleveland'];
    let left: { added: string[]; removed: string[] } = { added: [], removed: [] };
    await eventually(
      async () => {
        left = difference(baseline, await everyObject(cluster));
        return JSON.stringify(left) === JSON.stringify({ added: kept, removed: [] });
      },
      60_000,
      'nothing but the kept CRDs and their Site',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; left: ${JSON.stringify(left)}`);
    });
    await install();
    expect(await kubectl('get', 'site', 'cleveland', '--output=jsonpath={.spec.displayName}')).toBe('Cleveland Clinic');
  });

  test('with crds.keep off, an uninstall leaves nothing at all', async () => {
    await helmIn(['upgrade', 'flotilla', HUB_CHART, '--namespace', NS, '-f', valuesFile(values), '--set', 'crds.keep=false']);
    const crd = await json<{ metadata: { annotations?: Record<string, string> } }>('get', 'crd', 'sites.flotilla.dev');
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    await helmIn(['uninstall', 'flotilla', '--namespace', NS]);
    let left: { added: string[]; removed: string[] } = { added: [], removed: [] };
    await eventually(
      async () => {
        left = difference(baseline, await everyObject(cluster));
        return left.added.length === 0 && left.removed.length === 0;
      },
      60_000,
      'an empty cluster again',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; left: ${JSON.stringify(left)}`);
    });
  });
});
