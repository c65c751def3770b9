import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

import {
  addFinalizer,
  apply,
  applyStatus,
  deleteIfExists,
  hasFinalizer,
  ownerReference,
  removeFinalizer,
} from './apply.js';
import { isConflict } from './request.js';
import { readObject, type KubernetesObject, type ManagedFieldsEntry } from './resources.js';
import { resolveBinDir } from '../../test/support/envtest/controlplane.js';
import { startTestCluster, type TestCluster } from '../../test/support/test-cluster.js';

jest.setTimeout(60_000);

const FIELD_MANAGER = 'flotilla-operator';
const ours = { fieldManager: FIELD_MANAGER };

interface ConfigMap extends KubernetesObject {
  data?: Record<string, string>;
}
interface Site extends KubernetesObject {
  spec?: { displayName?: string; cordoned?: boolean };
  status?: { observedGeneration?: number; runningJobs?: number; agentVersion?: string };
}

const configMap = (namespace: string, name: string, data: Record<string, string>): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});

/** Field names (as "f:key") a manager owns under a path of its fieldsV1. */
function owned(
  entries: ManagedFieldsEntry[] | undefined,
  manager: string,
  subresource = '',
  path = ['f:data'],
): string[] {
  const entry = entries?.find((e) => e.manager === manager && (e.subresource ?? '') === subresource);
  let fields: unknown = entry?.fieldsV1;
  for (const part of path) fields = (fields as Record<string, unknown> | undefined)?.[part];
  return Object.keys((fields as Record<string, unknown> | undefined) ?? {})
    .filter((k) => k !== '.')
    .sort();
}

describe('apply, status, deletion and finalizers against a real API server', () => {
  let cluster: TestCluster;
  const ns = 'apply-test';

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    cluster = await startTestCluster('apply');
    await cluster.controlPlane.kubectl(['create', 'namespace', ns]);
  });
  afterAll(() => cluster?.stop());

  const read = <T extends KubernetesObject>(apiVersion: string, kind: string, name: string, namespace?: string) =>
    readObject<T>(cluster.kc, { apiVersion, kind, name, namespace });

  test('creates, then is idempotent: the same apply writes nothing and the field manager is recorded', async () => {
    const created = await apply(cluster.kc, configMap(ns, 'settings', { rounds: '5' }), ours);
    expect(created.data).toEqual({ rounds: '5' });
    const again = await apply(cluster.kc, configMap(ns, 'settings', { rounds: '5' }), ours);
    expect(again.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);

    const stored = await read<ConfigMap>('v1', 'ConfigMap', 'settings', ns);
    const entry = stored?.metadata?.managedFields?.find((e) => e.manager === FIELD_MANAGER);
    expect(entry?.operation).toBe('Apply');
    expect(owned(stored?.metadata?.managedFields, FIELD_MANAGER)).toEqual(['f:rounds']);
  });

  test('forces ownership from another manager, drops fields it no longer names, and honours a named manager', async () => {
    await cluster.controlPlane.kubectl(
      ['apply', '--server-side', '--field-manager=someone-else', '-f', '-'],
      JSON.stringify(configMap(ns, 'contested', { shared: 'theirs', theirs: 'x' })),
    );
    await apply(cluster.kc, configMap(ns, 'contested', { shared: 'ours', extra: '1' }), ours);
    let stored = await read<ConfigMap>('v1', 'ConfigMap', 'contested', ns);
    expect(stored?.data).toEqual({ shared: 'ours', theirs: 'x', extra: '1' });
    expect(owned(stored?.metadata?.managedFields, FIELD_MANAGER)).toEqual(['f:extra', 'f:shared']);
    expect(owned(stored?.metadata?.managedFields, 'someone-else')).toEqual(['f:theirs']);

    await apply(cluster.kc, configMap(ns, 'contested', { shared: 'ours' }), ours);
    stored = await read<ConfigMap>('v1', 'ConfigMap', 'contested', ns);
    expect(stored?.data).toEqual({ shared: 'ours', theirs: 'x' }); // 'extra' was ours alone: gone

    // The site agent writes as itself.
    await apply(cluster.kc, configMap(ns, 'agent-owned', { a: '1' }), { fieldManager: 'flotilla-site-agent' });
    stored = await read<ConfigMap>('v1', 'ConfigMap', 'agent-owned', ns);
    expect(owned(stored?.metadata?.managedFields, 'flotilla-site-agent')).toEqual(['f:a']);
    expect(owned(stored?.metadata?.managedFields, FIELD_MANAGER)).toEqual([]);
  });

  test('an object read back from the server can be applied (server-set metadata is not sent)', async () => {
    const current = await read<ConfigMap>('v1', 'ConfigMap', 'settings', ns);
    const stale = { ...current!, metadata: { ...current!.metadata, resourceVersion: '1' }, data: { rounds: '6' } };
    expect((await apply(cluster.kc, stale, ours)).data).toEqual({ rounds: '6' });
  });

  test('applyStatus writes only status, through the subresource, and only when it changed', async () => {
    const site: Site = {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'Site',
      metadata: { name: 'st-mary' },
      spec: { displayName: 'St Mary' },
    };
    const created = await apply(cluster.kc, site, ours);
    const status = { observedGeneration: created.metadata?.generation, runningJobs: 2, agentVersion: '0.1.0' };
    const withStatus = await applyStatus(cluster.kc, { ...site, spec: { displayName: 'ignored' }, status }, ours);
    expect(withStatus.status).toEqual(status);
    expect(withStatus.spec?.displayName).toBe('St Mary');
    expect(withStatus.metadata?.generation).toBe(created.metadata?.generation); // status is not spec
    expect(owned(withStatus.metadata?.managedFields, FIELD_MANAGER, 'status', ['f:status'])).toEqual([
      'f:agentVersion',
      'f:observedGeneration',
      'f:runningJobs',
    ]);

    const same = await applyStatus(cluster.kc, { ...site, status: { ...status } }, ours);
    expect(same.metadata?.resourceVersion).toBe(withStatus.metadata?.resourceVersion);

    const fewer = await applyStatus(cluster.kc, { ...site, status: { observedGeneration: 1, runningJobs: 0 } }, ours);
    expect(fewer.status).toEqual({ observedGeneration: 1, runningJobs: 0 }); // agentVersion dropped
  });

  test('ownerReference makes the owner the controller', async () => {
    const owner = await apply(cluster.kc, configMap(ns, 'owner', {}), ours);
    const ref = ownerReference(owner);
    expect(ref).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'owner',
      uid: owner.metadata?.uid,
      controller: true,
      blockOwnerDeletion: true,
    });
    const child = await apply(cluster.kc, { ...configMap(ns, 'child', {}), metadata: { name: 'child', namespace: ns, ownerReferences: [ref] } }, ours);
    expect(child.metadata?.ownerReferences).toEqual([ref]);
    expect(() => ownerReference(configMap(ns, 'unsaved', {}))).toThrow(/uid/);
  });

  test('deleteIfExists deletes once, then reports absence; a uid guards against a newer namesake', async () => {
    const first = await apply(cluster.kc, configMap(ns, 'doomed', {}), ours);
    expect(await deleteIfExists(cluster.kc, first)).toBe(true);
    expect(await read('v1', 'ConfigMap', 'doomed', ns)).toBeUndefined();
    expect(
      await deleteIfExists(cluster.kc, { apiVersion: 'v1', kind: 'ConfigMap', name: 'doomed', namespace: ns }),
    ).toBe(false);

    await apply(cluster.kc, configMap(ns, 'doomed', {}), ours);
    const error = await deleteIfExists(cluster.kc, first, { uid: first.metadata?.uid }).catch((e: unknown) => e);
    expect(isConflict(error)).toBe(true);
    expect(await read('v1', 'ConfigMap', 'doomed', ns)).toBeDefined();
  });

  test('finalizers: a writer holding a stale object gets a conflict and nobody loses a change', async () => {
    const site: Site = { apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'finalized' }, spec: {} };
    const original = await apply(cluster.kc, site, ours);
    const a = await addFinalizer(cluster.kc, original, 'flotilla.dev/site-cleanup', ours);
    expect(a.metadata?.finalizers).toEqual(['flotilla.dev/site-cleanup']);
    expect(await addFinalizer(cluster.kc, a, 'flotilla.dev/site-cleanup', ours)).toBe(a); // present: no write

    // A second writer still holds the object as it was before.
    const error = await addFinalizer(cluster.kc, original, 'example.com/other', ours).catch((e: unknown) => e);
    expect(isConflict(error)).toBe(true);
    let stored = await read<Site>('flotilla.dev/v1alpha1', 'Site', 'finalized');
    expect(stored?.metadata?.finalizers).toEqual(['flotilla.dev/site-cleanup']);
    // It reads again and succeeds; both finalizers stand.
    stored = await addFinalizer(cluster.kc, stored!, 'example.com/other', ours);
    expect(stored.metadata?.finalizers).toEqual(['flotilla.dev/site-cleanup', 'example.com/other']);

    // Removal under the same guard, while the object is being deleted.
    await deleteIfExists(cluster.kc, stored);
    const deleting = await read<Site>('flotilla.dev/v1alpha1', 'Site', 'finalized');
    expect(deleting?.metadata?.deletionTimestamp).toBeDefined();
    expect(isConflict(await removeFinalizer(cluster.kc, stored, 'example.com/other', ours).catch((e: unknown) => e))).toBe(
      true,
    );
    const left = await removeFinalizer(cluster.kc, deleting!, 'example.com/other', ours);
    expect(hasFinalizer(left, 'example.com/other')).toBe(false);
    await removeFinalizer(cluster.kc, left, 'flotilla.dev/site-cleanup', ours);
    expect(await read('flotilla.dev/v1alpha1', 'Site', 'finalized')).toBeUndefined(); // the last finalizer let it go
  });

  test('a namespaced object without a namespace is refused before any request', async () => {
    await expect(
      apply(cluster.kc, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nowhere' } }, ours),
    ).rejects.toThrow(/no namespace/);
    await expect(apply(cluster.kc, { apiVersion: 'v1', kind: 'Gadget', metadata: { name: 'x' } }, ours)).rejects.toThrow(
      /no kind Gadget/,
    );
  });
});
