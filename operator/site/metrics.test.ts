import { describe, expect, test } from '@jest/globals';
import type { Assignment, AssignmentStatus } from '../sitelink/assignment.js';
import { SiteAgentMetrics, refusalReason } from './metrics.js';
import { NO_POLICY, type SitePolicy } from './policy.js';
import { decide, decideAll } from './policy-decision.js';

const manifest = (job: string, trainer: unknown = { builtin: { model: 'LogisticRegression' } }, namespace = 'cardiology') =>
  JSON.stringify({ metadata: { name: job, namespace, uid: `${job}-uid` }, spec: { trainer } });
const base: Assignment = {
  namespace: 'cardiology',
  job: 'heart',
  jobUid: 'heart-uid',
  generation: 1,
  aggregatorAddress: 'a:1',
  image: 'ghcr.io/flotilla/flotilla:0.1.0',
  jobManifest: manifest('heart'),
  resourceLimits: {},
  resourceRequests: {},
  nodeSelector: {},
  tolerationsJson: '[]',
};
/** Allows base, and no more. */
const open: SitePolicy = { allowedJobNamespaces: ['cardiology'], allowedImages: ['ghcr.io/flotilla/**'], trainers: { builtin: true, commands: [] }, allowGpu: false };
const site = { defaultDataClaim: 'records' };

/** The reason label of what the policy really says about this assignment. */
function reasonOf(policy: SitePolicy, a: Partial<Assignment>): string {
  const decision = decide(policy, { ...base, ...a }, site);
  if (decision.allowed) throw new Error('allowed');
  return refusalReason(decision.reason);
}

describe("the site agent's refusal reasons", () => {
  test('each rule of the policy gets its own reason, from the message the policy gives', () => {
    expect(decide(open, base, site).allowed).toBe(true);
    expect(reasonOf(NO_POLICY, {})).toBe('no_policy');
    expect(reasonOf({ ...open, allowedJobNamespaces: ['oncology'] }, {})).toBe('namespace');
    expect(reasonOf({ ...open, allowedImages: ['registry.example.org/**'] }, {})).toBe('image');
    expect(reasonOf({ ...open, trainers: { builtin: false, commands: [] } }, {})).toBe('trainer');
    expect(reasonOf(open, { jobManifest: manifest('heart', { command: ['sh'] }) })).toBe('trainer');
    expect(reasonOf(open, { jobManifest: manifest('lung') })).toBe('manifest');
    expect(reasonOf(open, { dataClaimName: 'oncology-records' })).toBe('claim');
    expect(reasonOf(open, { nodeSelector: { pool: 'gpu' } })).toBe('node_selector');
    expect(reasonOf(open, { tolerationsJson: JSON.stringify([{ key: 'gpu', operator: 'Exists' }]) })).toBe('toleration');
    expect(reasonOf(open, { resourceLimits: { 'nvidia.com/gpu': '1' } })).toBe('gpu');
    expect(reasonOf({ ...open, maxCpu: '1' }, { resourceRequests: { cpu: '2' } })).toBe('cpu');
    expect(reasonOf({ ...open, maxMemory: '1Gi' }, { resourceLimits: { memory: '2Gi' } })).toBe('memory');
    expect(reasonOf(open, { resourceRequests: { cpu: 'lots' } })).toBe('invalid_resources');
    const both = decideAll({ ...open, maxConcurrentJobs: 1 }, [base, { ...base, job: 'lung', jobUid: 'lung-uid', jobManifest: manifest('lung') }], new Set(), site);
    const refused = [...both.values()].find((d) => !d.allowed);
    expect(refused && !refused.allowed && refusalReason(refused.reason)).toBe('concurrency');
    expect(refusalReason('something new')).toBe('other');
  });

  test('an assignment is counted once when it becomes refused, not at every report', async () => {
    const metrics = new SiteAgentMetrics();
    const status = (job: string, phase: AssignmentStatus['phase'], message = ''): AssignmentStatus => ({ namespace: 'cardiology', job, jobUid: `${job}-1`, phase, message });
    const image = `refused by the site's policy: image x matches none of allowedImages (y)`;
    metrics.reported([status('heart', 'Refused', image)]);
    metrics.reported([status('heart', 'Refused', image), status('lung', 'Running')]);
    metrics.reported([status('lung', 'Running')]);
    metrics.reported([status('heart', 'Refused', image), status('lung', 'Running')]);
    const counted = (await metrics.registry.getSingleMetric('flotilla_site_agent_refusals_total')!.get()).values;
    expect(Object.fromEntries(counted.map((v) => [v.labels.reason, v.value]))).toMatchObject({ image: 2, namespace: 0, concurrency: 0 });
  });
});
