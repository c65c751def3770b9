import { describe, expect, test } from '@jest/globals';
import type { Assignment } from '../sitelink/assignment.js';
import { clientObjectNames, clientPod, jobKeyOfObject, POD_SPEC_HASH } from './client-objects.js';

const heart: Assignment = {
  namespace: 'cardiology',
  job: 'heart',
  jobUid: 'u1',
  generation: 1,
  aggregatorAddress: 'heart-aggregator:8443',
  image: 'ghcr.io/flotilla/flotilla:0.1.0',
  command: ['flotilla', 'client'],
  jobManifest: '{"spec":1}',
  dataClaimName: 'heart-data',
  resourceLimits: {},
  resourceRequests: {},
  nodeSelector: { pool: 'training' },
  tolerationsJson: '[{"key":"gpu","operator":"Exists"}]',
};
const settings = { site: 'st-olav', namespace: 'flotilla', defaultDataClaim: 'site-data', resources: { limits: {}, requests: {} } };
const hashOf = (a: Assignment) => clientPod(a, settings).metadata!.annotations![POD_SPEC_HASH];

describe('client objects', () => {
  test('jobs of the same name in two hub namespaces get different objects, and labels lead back to the job', () => {
    const a = clientObjectNames({ namespace: 'cardiology', job: 'heart' });
    const b = clientObjectNames({ namespace: 'research', job: 'heart' });
    expect(a.pod).not.toBe(b.pod);
    expect(a.pod).toMatch(/^heart-[0-9a-f]{8}-client$/);
    const pod = clientPod(heart, settings);
    expect(jobKeyOfObject(pod)).toBe('cardiology/heart');
    expect(pod.spec!.nodeSelector).toEqual({ pool: 'training' });
    expect(pod.spec!.tolerations).toEqual([{ key: 'gpu', operator: 'Exists' }]);
    expect(pod.spec!.volumes!.find((v) => v.name === 'data')!.persistentVolumeClaim!.claimName).toBe('heart-data');
  });

  test('a pod is replaced when what it is made from changes, not otherwise', () => {
    expect(hashOf(heart)).toBe(hashOf({ ...heart }));
    expect(hashOf({ ...heart, jobManifest: '{"spec":2}' })).not.toBe(hashOf(heart));
    expect(hashOf({ ...heart, jobUid: 'u2' })).not.toBe(hashOf(heart));
    expect(hashOf({ ...heart, image: 'ghcr.io/flotilla/flotilla:0.2.0' })).not.toBe(hashOf(heart));
  });
});
