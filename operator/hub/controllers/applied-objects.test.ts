import { describe, expect, test } from '@jest/globals';
import { AppliedObjects, CACHE_CATCH_UP_MS, holds, RECORD_TTL_MS } from './applied-objects.js';

const service = (port: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'heart-aggregator', namespace: 'research', labels: { app: 'flotilla' } },
  spec: { type: 'ClusterIP', ports: [{ name: 'grpc', port }] },
});
/** As the API server returns it: defaults and bookkeeping added. */
const stored = (port: number) => ({
  ...service(port),
  metadata: { ...service(port).metadata, uid: 'u1', resourceVersion: '7' },
  spec: { ...service(port).spec, clusterIP: '10.0.0.1', ports: [{ name: 'grpc', port, protocol: 'TCP' }] },
});

describe('what the workload applied', () => {
  test('an object applied before, and still so in the cache, is not applied again', () => {
    let now = 0;
    const applied = new AppliedObjects(RECORD_TTL_MS, () => now);
    expect(applied.unchanged(service(8443), stored(8443))).toBe(false);
    applied.record(service(8443));
    expect(applied.unchanged(service(8443), stored(8443))).toBe(true);
    // Another desired state, someone else's edit, a deletion: applied again.
    expect(applied.unchanged(service(9443), stored(8443))).toBe(false);
    expect(applied.unchanged(service(8443), stored(9443))).toBe(false);
    // Not in the cache yet: catching up just after the apply; absent for longer, or forgotten on its deletion, applied again.
    expect(applied.unchanged(service(8443), undefined)).toBe(true);
    now = CACHE_CATCH_UP_MS;
    expect(applied.unchanged(service(8443), undefined)).toBe(false);
    applied.record(service(8443));
    applied.forget(service(8443));
    expect(applied.unchanged(service(8443), undefined)).toBe(false);
  });

  test('an object the operator cannot read is taken as it was applied for a while, then applied again', () => {
    let now = 0;
    const applied = new AppliedObjects(1_000, () => now);
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'heart-spec', namespace: 'research' }, data: { 'job.json': '{}' } };
    applied.record(configMap);
    expect(applied.unchanged(configMap)).toBe(true);
    const changed = { ...configMap, data: { 'job.json': '{"a":1}' } };
    expect(applied.unchanged(changed)).toBe(false);
    now = 1_000;
    expect(applied.unchanged(configMap)).toBe(false);
  });

  test('forgetting a job names frees its objects', () => {
    const applied = new AppliedObjects();
    applied.record(service(8443));
    applied.forgetNames('research', ['heart-aggregator']);
    expect(applied.size).toBe(0);
    expect(applied.unchanged(service(8443), stored(8443))).toBe(false);
  });

  test('holds: fields the server added do not count, changed or missing ones do, lists item for item', () => {
    expect(holds({ a: 1, b: { c: [1, { d: 2, e: 3 }] }, x: 9 }, { a: 1, b: { c: [1, { d: 2 }] } })).toBe(true);
    expect(holds({ a: 1 }, { a: 2 })).toBe(false);
    expect(holds({ a: 1 }, { b: 1 })).toBe(false);
    expect(holds({ c: [1, 2, 3] }, { c: [1, 2] })).toBe(false);
    expect(holds({ c: '1' }, { c: 1 })).toBe(false);
  });
});
