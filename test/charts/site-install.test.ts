/**
 * The site chart installed, upgraded and uninstalled with the pinned helm into a real kube-apiserver
 * with kube-controller-manager: every object accepted, the agent's pod admitted under Pod Security
 * "restricted", its ServiceAccount allowed its namespace's client objects and nothing else, a
 * changed policy reaching the agent (a new pod), and an uninstall leaving nothing but the records'
 * claim when it is kept. (docs/install.md's run, test/charts/install-guide.test.ts, has the agent
 * actually join a hub.)
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import YAML from 'yaml';
import { encodeJoinBundle } from '../../operator/sitelink/join-bundle.js';
import { parsePolicy } from '../../operator/site/policy.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { canI, difference, eventually, everyObject, restrictedNamespace } from './cluster.js';
import { helm, helmBinary, helmOk, SITE_CHART, valuesFile } from './helm.js';

jest.setTimeout(180_000);

const NS = 'flotilla';
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const bundle = encodeJoinBundle({ hub: 'hub.example.org:7443', enrollment: 'hub.example.org:7444', site: 'cleveland', token: `${'a'.repeat(12)}.${'b'.repeat(43)}`, caPem: CA });

let cluster: ControlPlane;
let baseline: Set<string>;
const kubectl = (...args: string[]) => cluster.kubectl(args);
const json = async <T>(...args: string[]) => JSON.parse(await kubectl(...args, '--output=json')) as T;
const helmIn = (args: string[]) => helmOk(args, { kubeconfig: cluster.kubeconfigPath });
const agentPods = async () =>
  (await json<{ items: { metadata: { name: string; deletionTimestamp?: string } }[] }>('get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/component=site-agent')).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );

beforeAll(() => Promise.all([resolveBinDir(), helmBinary()]), 30 * 60_000);

beforeAll(async () => {
  cluster = await startControlPlane({ name: 'charts-site', withControllerManager: true });
  await restrictedNamespace(cluster, NS);
  baseline = await everyObject(cluster);
});

afterAll(async () => {
  await cluster?.stop();
});

describe('the site chart in a real API server', () => {
  test('installs from the Secret the hospital made: every object accepted, the agent pod admitted under "restricted"', async () => {
    await kubectl('-n', NS, 'create', 'secret', 'generic', 'flotilla-join', `--from-literal=bundle=${bundle}`);
    const result = await helm(['install', 'flotilla-site', SITE_CHART, '--namespace', NS, '--set', 'data.source=pvc'], { kubeconfig: cluster.kubeconfigPath });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('kubectl -n flotilla logs deploy/flotilla-site-agent');
    const added = difference(baseline, await everyObject(cluster)).added;
    for (const object of [
      'Secret flotilla/flotilla-join',
      'ServiceAccount flotilla/flotilla-site-agent',
      'Role flotilla/flotilla-site-agent',
      'RoleBinding flotilla/flotilla-site-agent',
      'ConfigMap flotilla/flotilla-site-agent',
      'PersistentVolumeClaim flotilla/flotilla-site-agent-state',
      'PersistentVolumeClaim flotilla/site-data',
      'Deployment flotilla/flotilla-site-agent',
      'NetworkPolicy flotilla/flotilla-site-agent',
      'NetworkPolicy flotilla/flotilla-site-clients',
    ]) {
      expect(added).toContain(object);
    }
    expect(added.filter((o) => /^Cluster/.test(o))).toEqual([]);
    await eventually(async () => (await agentPods()).length === 1, 60_000, 'the agent pod');
    expect((await kubectl('get', 'events', '-n', NS, '--field-selector=reason=FailedCreate', '--output=name')).trim()).toBe('');
  });

  test("the agent's ServiceAccount may manage client pods and their objects here, and nothing anywhere else", async () => {
    const allowed = await canI(cluster, NS, 'flotilla-site-agent', [
      'watch pods',
      'create pods',
      'delete pods',
      'get secrets',
      'create secrets',
      'list configmaps',
      'patch configmaps',
    ]);
    expect(Object.entries(allowed).filter(([, yes]) => !yes)).toEqual([]);
    const denied = await canI(cluster, NS, 'flotilla-site-agent', [
      'list pods default',
      'get secrets kube-system',
      'list secrets *',
      'create pods --subresource=exec',
      'update pods',
      'create deployments.apps',
      'create serviceaccounts --subresource=token',
      'get persistentvolumeclaims',
      'create roles.rbac.authorization.k8s.io',
      'get nodes',
      'create events',
    ]);
    expect(Object.entries(denied).filter(([, yes]) => yes)).toEqual([]);
  });

  test('upgrades: a changed policy reaches the agent as a new pod reading the new file', async () => {
    const [before] = await agentPods();
    await helmIn([
      'upgrade', 'flotilla-site', SITE_CHART, '--namespace', NS, '--reuse-values',
      '-f', valuesFile({ policy: { allowedJobNamespaces: ['cardiology'], maxConcurrentJobs: 1 }, clients: { image: 'registry.hospital.example/flotilla:0.1.0' } }),
    ]);
    const configMap = await json<{ data: Record<string, string> }>('get', 'configmap', 'flotilla-site-agent', '-n', NS);
    expect(parsePolicy(YAML.parse(configMap.data['policy.yaml']!))).toEqual({ allowedJobNamespaces: ['cardiology'], maxConcurrentJobs: 1, allowGpu: false });
    const deployment = await json<{ spec: { template: { spec: { containers: { args: string[] }[] } } } }>('get', 'deployment', 'flotilla-site-agent', '-n', NS);
    expect(deployment.spec.template.spec.containers[0]!.args).toContain('--client-image=registry.hospital.example/flotilla:0.1.0');
    await eventually(
      async () => {
        const pods = await agentPods();
        return pods.length === 1 && pods[0]!.metadata.name !== before!.metadata.name;
      },
      60_000,
      'the old agent pod replaced by one new pod',
    );
  });

  test('uninstalls, keeping only the records\' claim; without keepOnUninstall, nothing at all', async () => {
    await helmIn(['uninstall', 'flotilla-site', '--namespace', NS]);
    const settled = async (expected: { added: string[]; removed: string[] }) => {
      let left: unknown;
      await eventually(
        async () => {
          left = difference(baseline, await everyObject(cluster));
          return JSON.stringify(left) === JSON.stringify(expected);
        },
        60_000,
        JSON.stringify(expected),
      ).catch((err: Error) => {
        throw new Error(`${err.message}; left: ${JSON.stringify(left)}`);
      });
    };
    // The join Secret is the hospital's, not the chart's.
    await settled({ added: ['PersistentVolumeClaim flotilla/site-data', 'Secret flotilla/flotilla-join'], removed: [] });
    await kubectl('-n', NS, 'delete', 'pvc', 'site-data');
    await helmIn(['install', 'flotilla-site', SITE_CHART, '--namespace', NS, '-f', valuesFile({ join: { bundle }, data: { source: 'pvc', keepOnUninstall: false } })]);
    await kubectl('-n', NS, 'delete', 'secret', 'flotilla-join');
    await helmIn(['uninstall', 'flotilla-site', '--namespace', NS]);
    await settled({ added: [], removed: [] });
  });
});
