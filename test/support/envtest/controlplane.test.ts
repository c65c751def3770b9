import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

import { resolveBinDir, startControlPlane, type ControlPlane } from './controlplane.js';

// Two apiservers, two etcds, a controller manager and kwok share 2 cores.
jest.setTimeout(300_000);

describe('envtest control planes', () => {
  let hub: ControlPlane;
  let site: ControlPlane;

  // The first run on a machine builds the binaries (install-tools.sh).
  beforeAll(() => resolveBinDir(), 30 * 60_000);

  beforeAll(async () => {
    const results = await Promise.allSettled([
      startControlPlane({ name: 'hub' }),
      startControlPlane({ name: 'site', withControllerManager: true, fakeNodes: ['kwok-node-0'] }),
    ]);
    const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await Promise.all(started.map((cp) => cp.stop()));
      throw failure.reason;
    }
    [hub, site] = started as [ControlPlane, ControlPlane];
  });

  afterAll(async () => {
    await Promise.all([hub?.stop(), site?.stop()]);
  });

  test('serve the Kubernetes API over TLS to the admin kubeconfig', async () => {
    for (const cp of [hub, site]) {
      expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(cp.caPem).toContain('BEGIN CERTIFICATE');
      const version = JSON.parse(await cp.kubectl(['version', '--output=json'])) as {
        serverVersion: { gitVersion: string };
      };
      expect(version.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    }
    expect(hub.server).not.toEqual(site.server);
  });

  test('are isolated from each other', async () => {
    const objects = (owner: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `only-on-${owner}` } },
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'marker', namespace: `only-on-${owner}` },
            data: { owner },
          },
        ],
      });
    await Promise.all([
      hub.kubectl(['apply', '-f', '-'], objects('hub')),
      site.kubectl(['apply', '-f', '-'], objects('site')),
    ]);

    const owner = (cp: ControlPlane, ns: string) =>
      cp.kubectl(['get', 'configmap', 'marker', `--namespace=${ns}`, '--output=jsonpath={.data.owner}']);
    await expect(owner(hub, 'only-on-hub')).resolves.toBe('hub');
    await expect(owner(site, 'only-on-site')).resolves.toBe('site');
    await expect(owner(hub, 'only-on-site')).rejects.toThrow(/NotFound/);
    await expect(owner(site, 'only-on-hub')).rejects.toThrow(/NotFound/);
  });

  test('authorize with RBAC', async () => {
    await expect(hub.kubectl(['get', 'pods', '--as=system:serviceaccount:default:nobody'])).rejects.toThrow(
      /Forbidden/,
    );
  });

  test('kube-controller-manager turns a Deployment into a ReplicaSet', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { nodeName: site.fakeNodes[0], containers: [{ name: 'web', image: 'example.invalid/web:1' }] },
        },
      },
    };
    await site.kubectl(['apply', '-f', '-'], JSON.stringify(deployment));
    await site.kubectl(['wait', '--for=condition=Available', 'deployment/web', '--timeout=120s']);
    const owners = await site.kubectl([
      'get',
      'replicasets',
      '--selector=app=web',
      '--output=jsonpath={.items[*].metadata.ownerReferences[0].name}',
    ]);
    expect(owners).toBe('web');
  });

  test('kwok runs pods bound to a fake node', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'trainer', namespace: 'default' },
      spec: { nodeName: site.fakeNodes[0], containers: [{ name: 'trainer', image: 'example.invalid/trainer:1' }] },
    };
    await site.kubectl(['apply', '-f', '-'], JSON.stringify(pod));
    await site.kubectl(['wait', '--for=jsonpath={.status.phase}=Running', 'pod/trainer', '--timeout=120s']);
    await expect(site.kubectl(['get', 'pod', 'trainer', '--output=jsonpath={.status.podIP}'])).resolves.toMatch(
      /^\d+\.\d+\.\d+\.\d+$/,
    );
  });
});
