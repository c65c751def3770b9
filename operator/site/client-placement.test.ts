import { describe, expect, test } from '@jest/globals';
import type { Assignment } from '../sitelink/assignment.js';
import { clientPod } from './client-objects.js';
import type { ClientResources } from './policy-decision.js';
import { parseClientPlacement } from './client-placement.js';

const job: Assignment = {
  namespace: 'cardiology',
  job: 'heart',
  jobUid: 'u1',
  generation: 1,
  aggregatorAddress: 'heart-aggregator:8443',
  image: 'ghcr.io/flotilla/flotilla:0.1.0',
  jobManifest: '{}',
  resourceLimits: {},
  resourceRequests: {},
  nodeSelector: { pool: 'from-the-job' },
  tolerationsJson: '[{"key":"job","operator":"Exists"}]',
};
const placement = parseClientPlacement({
  nodeSelector: { pool: 'research', zone: 'a' },
  tolerations: [{ key: 'research', operator: 'Exists', effect: 'NoSchedule' }],
  gpu: {
    nodeSelector: { 'nvidia.com/gpu.present': 'true' },
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    runtimeClassName: 'nvidia',
  },
});
const podFor = (resources: ClientResources) =>
  clientPod(job, {
    site: 'st-olav',
    namespace: 'flotilla',
    client: { resources, jobFile: '{}', claimName: 'site-data', nodeSelector: { pool: 'from-the-job' }, tolerations: [{ key: 'job', operator: 'Exists' }] },
    placement,
  }).spec!;

describe('client placement', () => {
  test("a pod gets the site's node labels beneath the job's, and both sets of tolerations", () => {
    const spec = podFor({ limits: { cpu: '2' }, requests: {} });
    expect(spec.nodeSelector).toEqual({ pool: 'from-the-job', zone: 'a' });
    expect(spec.tolerations).toEqual([
      { key: 'job', operator: 'Exists' },
      { key: 'research', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(spec.runtimeClassName).toBeUndefined();
  });

  test('a pod that asks for a GPU also gets the GPU nodes, their taint and the RuntimeClass', () => {
    const spec = podFor({ limits: { 'nvidia.com/gpu': '1' }, requests: {} });
    expect(spec.nodeSelector).toEqual({ pool: 'from-the-job', zone: 'a', 'nvidia.com/gpu.present': 'true' });
    expect(spec.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    expect(spec.runtimeClassName).toBe('nvidia');
    expect(podFor({ limits: { 'nvidia.com/gpu': '0' }, requests: {} }).runtimeClassName).toBeUndefined();
  });

  test('no file places pods as their jobs ask, and a bad file says what is wrong', () => {
    expect(parseClientPlacement({})).toEqual({ nodeSelector: {}, tolerations: [], gpu: { nodeSelector: {}, tolerations: [] } });
    expect(() => parseClientPlacement({ nodeSelector: { pool: 3 } }, 'p.yaml')).toThrow('p.yaml: nodeSelector must map label names to strings');
    expect(() => parseClientPlacement({ gpu: { runtime: 'nvidia' } }, 'p.yaml')).toThrow('unknown field gpu.runtime');
    expect(() => parseClientPlacement({ tolerations: 'all' }, 'p.yaml')).toThrow('tolerations must be a list');
    expect(() => parseClientPlacement({ tolerations: [{ key: 'a', operater: 'Exists' }] }, 'p.yaml')).toThrow('p.yaml: tolerations[0] has an unknown field operater');
  });
});
