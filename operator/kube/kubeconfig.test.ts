import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadKubeConfig } from './kubeconfig.js';

const kubeconfig = (server: string) => `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: '${server}' } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

describe('loadKubeConfig', () => {
  let dir: string;
  const saved = {
    HOME: process.env.HOME,
    KUBECONFIG: process.env.KUBECONFIG,
    HOST: process.env.KUBERNETES_SERVICE_HOST,
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-kubeconfig-'));
    process.env.HOME = dir;
    delete process.env.KUBECONFIG;
    delete process.env.KUBERNETES_SERVICE_HOST;
  });
  afterEach(async () => {
    for (const [key, value] of Object.entries({
      HOME: saved.HOME,
      KUBECONFIG: saved.KUBECONFIG,
      KUBERNETES_SERVICE_HOST: saved.HOST,
    })) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('reads the given file first, then $KUBECONFIG, then ~/.kube/config', async () => {
    await writeFile(join(dir, 'given'), kubeconfig('https://given.example:6443'));
    await writeFile(join(dir, 'env'), kubeconfig('https://env.example:6443'));
    await mkdir(join(dir, '.kube'));
    await writeFile(join(dir, '.kube', 'config'), kubeconfig('https://home.example:6443'));
    process.env.KUBECONFIG = join(dir, 'env');
    expect(loadKubeConfig(join(dir, 'given')).getCurrentCluster()?.server).toBe('https://given.example:6443');
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe('https://env.example:6443');
    delete process.env.KUBECONFIG;
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe('https://home.example:6443');
  });

  test('fails with advice instead of falling back to http://localhost:8080', () => {
    expect(() => loadKubeConfig()).toThrow(/no kubeconfig/);
  });
});
