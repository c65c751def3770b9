import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

import { createLogger } from '../log.js';
import { Informer, type InformerEventType } from './informer.js';
import { kubeRequest } from './request.js';
import type { KubernetesObject } from './resources.js';
import { eventually } from '../../test/support/eventually.js';
import { resolveBinDir } from '../../test/support/envtest/controlplane.js';
import { startTestCluster, type TestCluster } from '../../test/support/test-cluster.js';

jest.setTimeout(120_000);

const quiet = createLogger('informer-test');
quiet.silent = true;

interface ConfigMap extends KubernetesObject {
  data?: Record<string, string>;
}
interface Site extends KubernetesObject {
  spec: { displayName?: string };
}

/** Every event an informer emitted, as [type, key, value, old value]. */
function record<T extends KubernetesObject>(informer: Informer<T>, value: (obj: T) => string | undefined) {
  const events: [InformerEventType, string, string | undefined, string | undefined][] = [];
  informer.onEvent((type, obj, old) => {
    const key = obj.metadata?.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata!.name!;
    events.push([type, key, value(obj), old && value(old)]);
  });
  return events;
}

describe('Informer against a real API server', () => {
  let cluster: TestCluster;
  let n = 0;

  beforeAll(() => resolveBinDir(), 30 * 60_000); // a first run builds the binaries
  beforeAll(async () => {
    cluster = await startTestCluster('informer');
  });
  afterAll(() => cluster?.stop());

  const kubectl = (...args: string[]) => cluster.controlPlane.kubectl(args);
  const configMap = (ns: string, name: string, value: string) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { value } });
  const putConfigMap = (ns: string, name: string, value: string) =>
    cluster.controlPlane.kubectl(['apply', '-f', '-'], configMap(ns, name, value));
  const newNamespace = async () => {
    const ns = `informer-${++n}`;
    await kubectl('create', 'namespace', ns);
    return ns;
  };

  test('syncs a full list, then emits adds, updates (with the old object) and deletes', async () => {
    const ns = await newNamespace();
    await putConfigMap(ns, 'a', '1');
    await putConfigMap(ns, 'b', '1');
    await putConfigMap('default', 'elsewhere', '1'); // another namespace: not ours

    const informer = new Informer<ConfigMap>(
      cluster.kc,
      { group: '', version: 'v1', plural: 'configmaps', namespace: ns },
      { logger: quiet },
    );
    const events = record(informer, (cm) => cm.data?.value);
    expect(informer.hasSynced()).toBe(false);
    await informer.start();
    try {
      expect(informer.hasSynced()).toBe(true);
      expect(
        informer
          .list()
          .map((cm) => cm.metadata?.name)
          .sort(),
      ).toEqual(['a', 'b']);
      expect(informer.get(`${ns}/a`)).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', data: { value: '1' } });
      expect(events.sort()).toEqual([
        ['add', `${ns}/a`, '1', undefined],
        ['add', `${ns}/b`, '1', undefined],
      ]);
      events.length = 0;

      await putConfigMap(ns, 'c', '1');
      await putConfigMap(ns, 'a', '2');
      await kubectl('delete', 'configmap', 'b', '-n', ns);
      await eventually(() => events.length >= 3);
      expect(events).toEqual([
        ['add', `${ns}/c`, '1', undefined],
        ['update', `${ns}/a`, '2', '1'],
        ['delete', `${ns}/b`, '1', undefined],
      ]);
      expect(informer.get(`${ns}/b`)).toBeUndefined();
      expect(informer.get(`${ns}/a`)?.data?.value).toBe('2');
    } finally {
      informer.stop();
    }
    await expect(informer.start()).rejects.toThrow(/stopped/);
  });

  test('keeps no managedFields: listed or watched, the cached object is the object without them', async () => {
    const ns = await newNamespace();
    await putConfigMap(ns, 'listed', '1');
    const stored = await kubeRequest<ConfigMap>(cluster.kc, { method: 'GET', path: `/api/v1/namespaces/${ns}/configmaps/listed` });
    expect(stored.metadata?.managedFields?.length).toBeGreaterThan(0); // kubectl apply writes them
    const informer = new Informer<ConfigMap>(cluster.kc, { group: '', version: 'v1', plural: 'configmaps', namespace: ns }, { logger: quiet });
    const seen: ConfigMap[] = [];
    informer.onEvent((_, obj) => seen.push(obj));
    await informer.start();
    try {
      await putConfigMap(ns, 'watched', '1');
      await putConfigMap(ns, 'listed', '2');
      await eventually(() => informer.get(`${ns}/listed`)?.data?.value === '2' && informer.get(`${ns}/watched`) !== undefined);
      for (const key of ['listed', 'watched']) {
        const cached = informer.get(`${ns}/${key}`)!;
        expect(cached.metadata).not.toHaveProperty('managedFields');
        expect(cached.metadata).toMatchObject({ name: key, namespace: ns, uid: expect.any(String), resourceVersion: expect.any(String) });
      }
      expect(seen.filter((obj) => obj.metadata && 'managedFields' in obj.metadata)).toEqual([]);
    } finally {
      informer.stop();
    }
  });

  test('indexBy: indexed(value) follows adds, changes of the value and deletes', async () => {
    const ns = await newNamespace();
    await putConfigMap(ns, 'a', 'red');
    await putConfigMap(ns, 'b', 'red');
    await kubectl('create', 'configmap', 'plain', '-n', ns); // no value: in no index entry
    const informer = new Informer<ConfigMap>(
      cluster.kc,
      { group: '', version: 'v1', plural: 'configmaps', namespace: ns },
      { logger: quiet, indexBy: (cm) => cm.data?.value },
    );
    const names = (value: string) =>
      informer
        .indexed(value)
        .map((cm) => cm.metadata!.name)
        .sort();
    await informer.start();
    try {
      expect(names('red')).toEqual(['a', 'b']);
      await putConfigMap(ns, 'a', 'blue');
      await putConfigMap(ns, 'c', 'blue');
      await kubectl('delete', 'configmap', 'b', '-n', ns);
      await eventually(() => informer.get(`${ns}/c`) !== undefined && informer.get(`${ns}/b`) === undefined && informer.get(`${ns}/a`)?.data?.value === 'blue');
      expect(names('red')).toEqual([]);
      expect(names('blue')).toEqual(['a', 'c']);
      expect(informer.indexed('blue').find((cm) => cm.metadata!.name === 'a')).toBe(informer.get(`${ns}/a`));
    } finally {
      informer.stop();
    }
  });

  test('takes a collection path', async () => {
    const informer = new Informer<KubernetesObject>(cluster.kc, { path: '/api/v1/namespaces' }, { logger: quiet });
    await informer.start();
    informer.stop();
    expect(informer.get('default')).toMatchObject({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'default' },
    });
  });

  test('keys cluster-scoped objects by name and honours a label selector', async () => {
    const site = (name: string, labels: Record<string, string>) =>
      JSON.stringify({
        apiVersion: 'flotilla.dev/v1alpha1',
        kind: 'Site',
        metadata: { name, labels },
        spec: { displayName: name },
      });
    await cluster.controlPlane.kubectl(['apply', '-f', '-'], site('selected-1', { region: 'north' }));
    await cluster.controlPlane.kubectl(['apply', '-f', '-'], site('other-1', { region: 'south' }));
    const informer = new Informer<Site>(
      cluster.kc,
      { group: 'flotilla.dev', version: 'v1alpha1', plural: 'sites', labelSelector: 'region=north' },
      { logger: quiet },
    );
    const events = record(informer, (s) => s.spec.displayName);
    await informer.start();
    try {
      expect(informer.list().map((s) => s.metadata?.name)).toEqual(['selected-1']);
      expect(informer.get('selected-1')?.kind).toBe('Site');
      // Leaving the selection reads as a delete.
      await kubectl('label', 'site', 'selected-1', 'region=south', '--overwrite');
      await eventually(() => events.length === 2);
      expect(events[1]).toEqual(['delete', 'selected-1', 'selected-1', undefined]);
      expect(informer.list()).toEqual([]);
    } finally {
      informer.stop();
    }
  });

  test('keeps every change, once, while the server keeps closing its watches', async () => {
    const ns = await newNamespace();
    await putConfigMap(ns, 'counter', '0');
    const informer = new Informer<ConfigMap>(
      cluster.kc,
      { group: '', version: 'v1', plural: 'configmaps', namespace: ns },
      { logger: quiet, watchTimeoutSeconds: 1 }, // the API server ends each watch after 1 s
    );
    const events = record(informer, (cm) => cm.data?.value);
    await informer.start();
    try {
      for (let i = 1; i <= 8; i++) {
        await putConfigMap(ns, 'counter', String(i));
        await new Promise((resolve) => setTimeout(resolve, 300)); // spans about 3 watches
      }
      await eventually(() => informer.get(`${ns}/counter`)?.data?.value === '8');
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // one more watch: no replays
      const updates = events.filter(([type]) => type === 'update').map(([, , value, old]) => `${old}->${value}`);
      expect(updates).toEqual(Array.from({ length: 8 }, (_, i) => `${i}->${i + 1}`));
    } finally {
      informer.stop();
    }
  });

  test('a cut connection loses nothing: it resumes from the last resourceVersion', async () => {
    const ns = await newNamespace();
    for (const name of ['keep', 'change', 'remove']) await putConfigMap(ns, name, '1');
    const informer = new Informer<ConfigMap>(
      cluster.kcViaProxy,
      { group: '', version: 'v1', plural: 'configmaps', namespace: ns },
      { logger: quiet },
    );
    const events = record(informer, (cm) => cm.data?.value);
    await informer.start();
    events.length = 0;
    try {
      cluster.proxy.cut();
      await putConfigMap(ns, 'change', '2');
      await kubectl('delete', 'configmap', 'remove', '-n', ns);
      await putConfigMap(ns, 'new', '1');
      const refusedBefore = cluster.proxy.refused;
      await eventually(() => cluster.proxy.refused > refusedBefore, 20_000, 'the informer to try to reconnect, and be refused');
      expect(events).toEqual([]);
      cluster.proxy.restore();
      // A change made after the others: once it is seen, anything replayed before it would have been too.
      await putConfigMap(ns, 'marker', '1');
      await eventually(() => events.some(([, key]) => key === `${ns}/marker`), 20_000, 'the marker');
      expect(events).toEqual([
        ['update', `${ns}/change`, '2', '1'],
        ['delete', `${ns}/remove`, '1', undefined],
        ['add', `${ns}/new`, '1', undefined],
        ['add', `${ns}/marker`, '1', undefined],
      ]);
    } finally {
      cluster.proxy.restore();
      informer.stop();
    }
  });

  test('on 410 Gone it lists again and emits exactly the difference', async () => {
    const site = (name: string, displayName: string) =>
      JSON.stringify({
        apiVersion: 'flotilla.dev/v1alpha1',
        kind: 'Site',
        metadata: { name, labels: { test: 'gone' } },
        spec: { displayName },
      });
    for (const name of ['gone-keep', 'gone-change', 'gone-remove']) {
      await cluster.controlPlane.kubectl(['apply', '-f', '-'], site(name, 'v1'));
    }
    const informer = new Informer<Site>(
      cluster.kcViaProxy,
      { group: 'flotilla.dev', version: 'v1alpha1', plural: 'sites', labelSelector: 'test=gone' },
      { logger: quiet, indexBy: (s) => s.spec.displayName },
    );
    const events = record(informer, (s) => s.spec.displayName);
    await informer.start();
    events.length = 0;
    const seenVersion = informer.get('gone-remove')!.metadata!.resourceVersion!;
    try {
      cluster.proxy.cut();
      await cluster.controlPlane.kubectl(['apply', '-f', '-'], site('gone-change', 'v2'));
      await kubectl('delete', 'site', 'gone-remove');
      await cluster.controlPlane.kubectl(['apply', '-f', '-'], site('gone-new', 'v1'));
      // A change to the CRD's spec rebuilds the API server's storage and watch cache for Sites, as a
      // restart would: the history the informer would resume from is gone.
      await kubectl(
        'patch',
        'crd',
        'sites.flotilla.dev',
        '--type=json',
        '-p',
        JSON.stringify([{ op: 'add', path: '/spec/names/categories/-', value: `informer-test-${Date.now()}` }]),
      );
      await eventually(
        () => watchAnswersGone(seenVersion),
        20_000,
        'a watch from the old resourceVersion answering 410',
      );
      cluster.proxy.restore();
      await eventually(() => events.length >= 3);
      // A change made after the relist: once it is seen, anything emitted twice would have been too.
      await cluster.controlPlane.kubectl(['apply', '-f', '-'], site('gone-marker', 'v1'));
      await eventually(() => events.some(([, key]) => key === 'gone-marker'), 20_000, 'the marker');
      expect(events).toEqual([
        ['delete', 'gone-remove', 'v1', undefined],
        ['update', 'gone-change', 'v2', 'v1'],
        ['add', 'gone-new', 'v1', undefined],
        ['add', 'gone-marker', 'v1', undefined],
      ]);
      expect(
        informer
          .list()
          .map((s) => s.metadata?.name)
          .sort(),
      ).toEqual(['gone-change', 'gone-keep', 'gone-marker', 'gone-new']);
      // The relist rebuilt the index: what was removed or changed while cut off is in no stale entry.
      const indexed = (value: string) =>
        informer
          .indexed(value)
          .map((s) => s.metadata!.name)
          .sort();
      expect(indexed('v1')).toEqual(['gone-keep', 'gone-marker', 'gone-new']);
      expect(indexed('v2')).toEqual(['gone-change']);
    } finally {
      cluster.proxy.restore();
      informer.stop();
    }
  });

  /** Whether the API server answers a watch of Sites from `resourceVersion` with 410 Gone. */
  async function watchAnswersGone(resourceVersion: string): Promise<boolean> {
    const text = await kubeRequest<unknown>(cluster.kc, {
      method: 'GET',
      path: '/apis/flotilla.dev/v1alpha1/sites',
      query: { watch: true, resourceVersion, timeoutSeconds: 1 },
    }).catch((error: unknown) => error);
    return JSON.stringify(text).includes('"code":410') || (text as { statusCode?: number }).statusCode === 410;
  }
});
