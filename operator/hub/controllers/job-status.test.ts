import { describe, expect, test } from '@jest/globals';
import { parseFederatedJob, type FederatedJob } from '../../api/federatedjob.js';
import type { AssignmentStatus } from '../../sitelink/assignment.js';
import type { AggregatorReport } from './aggregator-report.js';
import { milestones } from './job-milestones.js';
import { jobStatus, type JobObservation } from './job-status.js';

function job(status?: FederatedJob['status']): FederatedJob {
  const parsed = parseFederatedJob({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'research' },
    spec: {
      sites: { names: ['a', 'b'] },
      rounds: 20,
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } },
    },
  });
  return { ...parsed, metadata: { ...parsed.metadata, uid: 'u1', generation: 3 }, ...(status ? { status } : {}) };
}

const report = (over: Partial<AggregatorReport> = {}): AggregatorReport => ({
  namespace: 'research',
  job: 'heart',
  phase: 'Running',
  round: 7,
  rounds: 20,
  participants: 2,
  loss: 0.5,
  accuracy: 0.8,
  sites: { a: { lastRound: 7, accuracy: 0.79, samples: 100 }, b: { lastRound: 6, accuracy: 0.81, samples: 50 } },
  ...over,
});

function observe(j: FederatedJob, over: Partial<JobObservation> = {}, at = '2024-05-01T10:00:00Z'): JobObservation {
  return {
    job: j,
    now: new Date(at),
    sites: ['a', 'b'],
    endpoint: 'heart-aggregator.research.svc:8443',
    aggregator: { available: false },
    siteReports: new Map(),
    checkpointClaim: 'heart-checkpoints',
    ...over,
  };
}

const running = () => ({ namespace: 'research', job: 'heart', jobUid: 'u1', phase: 'Running' as const, message: '' });

describe('a job status computed from observations', () => {
  test('Pending until the aggregator is available, with observedGeneration and conditions', () => {
    const status = jobStatus(observe(job()));
    expect(status).toMatchObject({ observedGeneration: 3, phase: 'Pending', progress: '0/20', round: 0, sitesReady: '0/2' });
    expect(status.startTime).toBeUndefined();
    expect(status.sites).toEqual([
      { name: 'a', phase: 'Pending', message: 'no client at the site yet' },
      { name: 'b', phase: 'Pending', message: 'no client at the site yet' },
    ]);
    expect(status.conditions!.map((c) => [c.type, c.status, c.reason, c.observedGeneration])).toEqual([
      ['Ready', 'False', 'AggregatorStarting', 3],
      ['Progressing', 'False', 'Pending', 3],
      ['SitesReady', 'False', 'ClientsNotRunning', 3],
    ]);
  });

  test('Running mirrors the aggregator report and the sites; lastTransitionTime moves only with a status', () => {
    const first = jobStatus(observe(job(), { aggregator: { available: true }, report: report(), siteReports: new Map([['a', running()]]) }));
    expect(first).toMatchObject({
      phase: 'Running',
      progress: '7/20',
      round: 7,
      sitesReady: '1/2',
      startTime: '2024-05-01T10:00:00Z',
      aggregatorEndpoint: 'heart-aggregator.research.svc:8443',
      latestMetrics: { loss: 0.5, accuracy: 0.8, participants: 2 },
    });
    // reported: the site's own report, the hub's record of what it runs; b has said nothing yet.
    expect(first.sites![0]).toEqual({ name: 'a', phase: 'Running', reported: true, lastRound: 7, accuracy: 0.79, samples: 100 });
    expect(first.sites![1]!.reported).toBeUndefined();
    const ready = first.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'True', lastTransitionTime: '2024-05-01T10:00:00Z' });

    // Later, the aggregator restarts and cannot be read: the job stays Running with what it knew.
    const later = jobStatus(observe(job(first), { aggregator: { available: false, message: 'pod restarting' } }, '2024-05-01T10:05:00Z'));
    expect(later).toMatchObject({ phase: 'Running', round: 7, latestMetrics: first.latestMetrics, startTime: first.startTime });
    expect(later.sites![0]).toMatchObject({ lastRound: 7, accuracy: 0.79, samples: 100 });

    // Under spec.personalization the final evaluation adds each site's fine-tuned accuracy, kept once the job ended.
    const tuned = report({ phase: 'Succeeded', sites: { a: { lastRound: 20, accuracy: 0.79, samples: 100, fineTunedAccuracy: 0.84 } } });
    const ended = jobStatus(observe(job(later), { aggregator: { available: true }, report: tuned }, '2024-05-01T10:09:00Z'));
    expect(ended.sites![0]).toMatchObject({ accuracy: 0.79, fineTunedAccuracy: 0.84 });
    expect(ended.sites![1]!.fineTunedAccuracy).toBeUndefined();
    expect(jobStatus(observe(job(ended), {}, '2024-05-01T10:10:00Z')).sites![0]!.fineTunedAccuracy).toBe(0.84);
    // Under spec.asynchronous: the staleness of each site's last applied update and the weight it gave, kept after the end.
    const stale = report({ phase: 'Succeeded', sites: { a: { lastRound: 20, accuracy: 0.79, samples: 100, staleness: 2, stalenessWeight: 1 / Math.sqrt(3) } } });
    const buffered = jobStatus(observe(job(), { report: stale }, '2024-05-01T10:05:00Z'));
    expect(buffered.sites![0]).toMatchObject({ staleness: 2, stalenessWeight: 1 / Math.sqrt(3) });
    expect(buffered.sites![1]!.staleness).toBeUndefined();
    expect(jobStatus(observe(job(buffered), {}, '2024-05-01T10:10:00Z')).sites![0]).toMatchObject({ staleness: 2, stalenessWeight: 1 / Math.sqrt(3) });
    expect(later.conditions!.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'AggregatorUnavailable',
      message: 'pod restarting',
      lastTransitionTime: '2024-05-01T10:05:00Z',
    });
    // Progressing stayed True: its transition time did not move.
    expect(later.conditions!.find((c) => c.type === 'Progressing')!.lastTransitionTime).toBe('2024-05-01T10:00:00Z');
  });

  test("mirrors the job's bytes on the wire, and keeps them while the aggregator cannot be read", () => {
    const traffic = { downloadBytes: 880, uploadBytes: 1280, factor: 2.074074074, downloadError: 0.0047 };
    const first = jobStatus(observe(job(), { aggregator: { available: true }, report: report({ traffic }) }));
    expect(first.traffic).toEqual({ downloadBytes: 880, uploadBytes: 1280, compressionFactor: 2.074, downloadError: 0.0047 });
    const later = jobStatus(observe(job(first), { aggregator: { available: false, message: 'pod restarting' } }, '2024-05-01T10:05:00Z'));
    expect(later.traffic).toEqual(first.traffic);
  });

  test('the same observation twice gives the same status (nothing to write)', () => {
    const o = observe(job(), { aggregator: { available: true }, report: report() });
    const once = jobStatus(o);
    expect(jobStatus({ ...o, job: job(once), now: new Date('2024-05-01T11:00:00Z') })).toEqual(once);
  });

  test('Succeeded records the model and completion, and stays final', () => {
    const model = { path: '/var/lib/flotilla/model.safetensors', sha256: 'ab'.repeat(32), bytes: 1234 };
    const done = jobStatus(observe(job(), { aggregator: { available: true }, report: report({ phase: 'Succeeded', round: 20, model, message: 'all 20 rounds closed' }) }));
    expect(done).toMatchObject({
      phase: 'Succeeded',
      progress: '20/20',
      completionTime: '2024-05-01T10:00:00Z',
      model: { location: 'pvc://research/heart-checkpoints/model.safetensors', sha256: model.sha256, bytes: 1234 },
    });
    expect(done.conditions!.find((c) => c.type === 'Succeeded')).toMatchObject({ status: 'True', reason: 'RoundsCompleted', message: 'all 20 rounds closed' });
    // A model path relative to the state dir, or seen through another mount, is on the claim too.
    for (const seen of ['model.safetensors', '/tmp/kubelet/claims/research/heart-checkpoints/model.safetensors']) {
      const other = jobStatus(observe(job(), { aggregator: { available: true }, report: report({ phase: 'Succeeded', round: 20, model: { ...model, path: seen } }) }));
      expect(other.model!.location).toBe('pvc://research/heart-checkpoints/model.safetensors');
    }
    // The aggregator is gone (cleanupPolicy Delete) and the sites stopped reporting: nothing is lost.
    const after = jobStatus(observe(job(done), {}, '2024-05-01T12:00:00Z'));
    expect(after).toEqual(done);
  });

  test("an object the API server refuses is why the job is not Ready, naming it in the server's words, until it is made", () => {
    const refused = 'the API server refused PersistentVolumeClaim research/heart-checkpoints: persistentvolumeclaims "heart-checkpoints" is forbidden: exceeded quota: no-claims';
    const status = jobStatus(observe(job(), { refused }));
    expect(status.phase).toBe('Pending');
    expect(status.conditions!.filter((c) => c.type !== 'SitesReady').map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['Ready', 'False', 'ObjectRefused', refused],
      ['Progressing', 'False', 'ObjectRefused', refused],
    ]);
    // Refused while running (a changed spec the API server will not take): the rounds go on, the job is not Ready.
    const up = jobStatus(observe(job(), { aggregator: { available: true }, report: report() }));
    const later = jobStatus(observe(job(up), { aggregator: { available: true }, report: report(), refused }, '2024-05-01T10:01:00Z'));
    expect(later.phase).toBe('Running');
    expect(later.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ObjectRefused', message: refused });
    expect(later.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'RoundsInProgress' });
    // Made at last: Ready again.
    const made = jobStatus(observe(job(later), { aggregator: { available: true }, report: report() }, '2024-05-01T10:02:00Z'));
    expect(made.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'AggregatorAvailable', lastTransitionTime: '2024-05-01T10:02:00Z' });
  });

  test("an object of the job's names that is someone else's is why the job is not Ready, named, with one Warning Event", () => {
    const conflict = "PersistentVolumeClaim research/heart-checkpoints exists and is not this job's (it has no owner): the operator leaves it untouched; remove it, or give the job another name";
    const status = jobStatus(observe(job(), { conflict }));
    expect(status.conditions!.filter((c) => c.type !== 'SitesReady').map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['Ready', 'False', 'ObjectConflict', conflict],
      ['Progressing', 'False', 'ObjectConflict', conflict],
    ]);
    expect(milestones(job().status, status, 20)).toEqual([{ type: 'Warning', reason: 'ObjectConflict', message: conflict }]);
    expect(milestones(status, jobStatus(observe(job(status), { conflict })), 20)).toEqual([]);
  });

  test('a listed Site that does not allow the namespace is refused by the hub, and said so once', () => {
    const why = 'Site b does not allow jobs of namespace research (its spec.allowedNamespaces: cardiology): the hub gives it no assignment';
    const status = jobStatus(observe(job(), { aggregator: { available: true }, report: report(), siteReports: new Map([['a', running()]]), siteRefusals: new Map([['b', why]]) }));
    expect(status.sites!.find((s) => s.name === 'b')).toMatchObject({ phase: 'Refused', message: why });
    expect(status.conditions!.find((c) => c.type === 'SitesReady')).toMatchObject({ status: 'False', reason: 'SiteNotAllowed', message: expect.stringContaining(why) });
    expect(milestones(job().status, status, 20)).toContainEqual({ type: 'Warning', reason: 'SiteNotAllowed', message: why });
  });

  test('a site report of megabytes is cut to the bound of the status schema', () => {
    const huge = { ...running(), phase: 'Pending' as const, message: 'x'.repeat(2 << 20) };
    const status = jobStatus(observe(job(), { siteReports: new Map([['a', huge]]) }));
    expect(status.sites![0]!.message!.length).toBe(1024);
    expect(JSON.stringify(status).length).toBeLessThan(40_000);
  });

  test("SitesReady names each site that does not run its client, with what it reported", () => {
    const quota = 'the site API server refused Pod flotilla/cardiology-heart-client: pods "cardiology-heart-client" is forbidden: exceeded quota: no-pods';
    const siteReports = new Map<string, AssignmentStatus>([
      ['a', running()],
      ['b', { ...running(), phase: 'Pending', message: quota }],
    ]);
    const pending = jobStatus(observe(job(), { aggregator: { available: true }, report: report(), siteReports }));
    expect(pending.conditions!.find((c) => c.type === 'SitesReady')).toMatchObject({
      status: 'False',
      reason: 'ClientsNotRunning',
      message: `1/2 site(s) run their client; b Pending: ${quota}`,
    });
    siteReports.set('b', { ...running(), phase: 'Refused', message: 'image docker.io/x matches none of allowedImages' });
    const refused = jobStatus(observe(job(pending), { aggregator: { available: true }, report: report(), siteReports }));
    expect(refused.conditions!.find((c) => c.type === 'SitesReady')).toMatchObject({ status: 'False', reason: 'SiteRefused', message: expect.stringContaining('b Refused: image docker.io/x') });
    siteReports.set('b', running());
    const all = jobStatus(observe(job(refused), { aggregator: { available: true }, report: report(), siteReports }));
    expect(all.conditions!.find((c) => c.type === 'SitesReady')).toMatchObject({ status: 'True', reason: 'ClientsRunning' });
  });

  test('a job that can never run fails at once with the reason', () => {
    const status = jobStatus(observe(job(), { blocked: { reason: 'InvalidName', message: 'name too long', final: true } }));
    expect(status.phase).toBe('Failed');
    expect(status.conditions!.find((c) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'InvalidName', message: 'name too long' });
  });
});

describe('milestone events', () => {
  test('Running, every second round of 20, SiteRefused, Succeeded: each once', () => {
    const pending = jobStatus(observe(job()));
    const r1 = jobStatus(observe(job(pending), { aggregator: { available: true }, report: report({ round: 1 }) }));
    expect(milestones(pending, r1, 20).map((e) => e.reason)).toEqual(['Running']);
    const r2 = jobStatus(observe(job(r1), { aggregator: { available: true }, report: report({ round: 2 }) }));
    expect(milestones(r1, r2, 20)).toEqual([{ type: 'Normal', reason: 'RoundCompleted', message: 'round 2 of 20 closed: accuracy 0.800 over 2 site(s)' }]);
    expect(milestones(r2, r2, 20)).toEqual([]);
    const refused = jobStatus(
      observe(job(r2), {
        aggregator: { available: true },
        report: report({ round: 3 }),
        siteReports: new Map([['b', { namespace: 'research', job: 'heart', jobUid: 'u1', phase: 'Refused', message: 'image not allowed' }]]),
      }),
    );
    expect(milestones(r2, refused, 20)).toEqual([{ type: 'Warning', reason: 'SiteRefused', message: 'site b refused the job: image not allowed' }]);
    const done = jobStatus(observe(job(refused), { aggregator: { available: true }, report: report({ phase: 'Succeeded', round: 20, message: 'done' }) }));
    expect(milestones(refused, done, 20).map((e) => e.reason)).toEqual(['RoundCompleted', 'Succeeded']);
  });

  test('ObjectRefused: a Warning when a refusal appears or its words change, not again for the same', () => {
    const pending = jobStatus(observe(job()));
    const words = (used: number) => `the API server refused Service research/heart-aggregator: services "heart-aggregator" is forbidden: exceeded quota: q, used: services=${used}`;
    const refused = jobStatus(observe(job(pending), { refused: words(1) }));
    expect(milestones(pending, refused, 20)).toEqual([{ type: 'Warning', reason: 'ObjectRefused', message: words(1) }]);
    const same = jobStatus(observe(job(refused), { refused: words(1) }));
    expect(milestones(refused, same, 20)).toEqual([]);
    const changed = jobStatus(observe(job(same), { refused: words(2) }));
    expect(milestones(same, changed, 20)).toEqual([{ type: 'Warning', reason: 'ObjectRefused', message: words(2) }]);
    expect(milestones(changed, jobStatus(observe(job(changed))), 20)).toEqual([]);
  });
});
