import { describe, expect, test } from '@jest/globals';
import type { Assignment } from '../sitelink/assignment.js';
import { decide, decideAll, imageMatches, parsePolicy } from './policy.js';
import { parseQuantity } from './quantity.js';

const base: Assignment = {
  namespace: 'cardiology',
  job: 'heart',
  jobUid: 'u1',
  generation: 1,
  aggregatorAddress: 'a:1',
  image: 'ghcr.io/flotilla/flotilla:0.1.0',
  command: ['flotilla', 'client'],
  jobManifest: '{}',
  resourceLimits: {},
  resourceRequests: {},
  nodeSelector: {},
  tolerationsJson: '[]',
};
const job = (name: string, overrides: Partial<Assignment> = {}): Assignment => ({ ...base, job: name, ...overrides });

describe('quantities', () => {
  test.each([
    ['500m', 0.5],
    ['2', 2],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['4G', 4e9],
    ['1e3', 1000],
    ['128Mi', 128 * 2 ** 20],
  ])('%s is %d', (text, value) => expect(parseQuantity(text)).toBeCloseTo(value));

  test('anything else is refused', () => {
    for (const bad of ['', 'two', '1.5.2', '4 Gi', '1GiB']) expect(() => parseQuantity(bad)).toThrow(/not a Kubernetes quantity/);
  });
});

describe('policy files', () => {
  test('fields are checked, unknown ones refused, allowGpu defaults to false', () => {
    expect(parsePolicy({ maxCpu: 4, maxMemory: '8Gi', maxConcurrentJobs: 2 })).toEqual({ allowGpu: false, maxCpu: '4', maxMemory: '8Gi', maxConcurrentJobs: 2 });
    expect(() => parsePolicy({ maxCPU: '4' })).toThrow(/unknown field maxCPU/);
    expect(() => parsePolicy({ allowedImages: 'ghcr.io/*' })).toThrow(/allowedImages must be a list of strings/);
    expect(() => parsePolicy({ maxMemory: 'lots' })).toThrow(/maxMemory: "lots" is not a Kubernetes quantity/);
    expect(() => parsePolicy({ maxConcurrentJobs: 1.5 })).toThrow(/whole number/);
    expect(() => parsePolicy({ allowGpu: 'yes' })).toThrow(/allowGpu must be true or false/);
  });
});

describe('image globs', () => {
  test("'*' stays within a path segment, '**' crosses them", () => {
    expect(imageMatches('ghcr.io/flotilla/*', 'ghcr.io/flotilla/flotilla:0.1.0')).toBe(true);
    expect(imageMatches('ghcr.io/flotilla/*', 'ghcr.io/flotilla/x/y:1')).toBe(false);
    expect(imageMatches('ghcr.io/flotilla/**', 'ghcr.io/flotilla/x/y:1')).toBe(true);
    expect(imageMatches('ghcr.io/flotilla*', 'ghcr.io/flotilla-evil/x')).toBe(false);
    expect(imageMatches('registry.local/flotilla:0.?.0', 'registry.local/flotilla:0.1.0')).toBe(true);
    // Dots are literal.
    expect(imageMatches('ghcr.io/flotilla/*', 'ghcrxio/flotilla/a')).toBe(false);
  });
});

describe('decisions', () => {
  const policy = parsePolicy({ allowedJobNamespaces: ['cardiology'], allowedImages: ['ghcr.io/flotilla/**'], maxCpu: '2', maxMemory: '4Gi' });

  test('an assignment within the policy gets the ceilings as the limits it did not set', () => {
    expect(decide(policy, job('heart', { resourceRequests: { cpu: '500m' }, resourceLimits: { memory: '1Gi' } }))).toEqual({
      allowed: true,
      resources: { limits: { memory: '1Gi', cpu: '2' }, requests: { cpu: '500m' } },
    });
  });

  test.each([
    [{ namespace: 'oncology' }, /hub namespace oncology are not allowed/],
    [{ image: 'docker.io/evil:latest' }, /matches none of allowedImages/],
    [{ resourceLimits: { 'nvidia.com/gpu': '1' } }, /allows no GPUs/],
    [{ resourceLimits: { cpu: '2500m' } }, /cpu limit 2500m is above the site's ceiling 2/],
    [{ resourceRequests: { memory: '5Gi' } }, /memory request 5Gi is above the site's ceiling 4Gi/],
    [{ resourceRequests: { memory: 'much' } }, /resource memory: "much" is not a Kubernetes quantity/],
  ] as [Partial<Assignment>, RegExp][])('%j is refused', (overrides, reason) => {
    const decision = decide(policy, job('x', overrides));
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.reason).toMatch(reason);
  });

  test('GPUs pass when the site allows them', () => {
    expect(decide({ ...policy, allowGpu: true }, job('x', { resourceLimits: { 'nvidia.com/gpu': '1' } })).allowed).toBe(true);
  });

  test('maxConcurrentJobs admits running jobs first, then new ones in order', () => {
    const limited = { ...policy, maxConcurrentJobs: 2 };
    const set = [job('a'), job('b'), job('c'), job('evil', { image: 'docker.io/evil' })];
    const fresh = decideAll(limited, set, new Set());
    expect([...fresh].map(([k, d]) => [k, d.allowed])).toEqual([
      ['cardiology/a', true],
      ['cardiology/b', true],
      ['cardiology/c', false],
      ['cardiology/evil', false],
    ]);
    const withC = decideAll(limited, set, new Set(['cardiology/c']));
    expect(withC.get('cardiology/c')!.allowed).toBe(true);
    expect(withC.get('cardiology/a')!.allowed).toBe(true);
    const refused = withC.get('cardiology/b')!;
    expect(refused.allowed === false && refused.reason).toMatch(/at most 2 job\(s\) at once/);
  });
});
