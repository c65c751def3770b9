/**
 * Flotilla end to end, every part real and local: a hub control plane with the operator, three
 * hospital control planes each with its site agent, and the aggregator and the sites' clients run
 * "in their pods" by process kubelets. The hospitals enrol with the join bundles the operator made;
 * FederatedJobs train to Succeeded on their own data, in the clear, under central DP with adaptive
 * clipping, under local DP, under secure aggregation with distributed DP, and under asynchronous
 * buffered aggregation; deleting a job cleans every cluster, the finalizer holding it while a site
 * has not yet removed its client; the hub's audit trail records all of it.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import { epsilonFor } from '../../operator/privacy/accountant.js';
import { verifyTrail } from '../../operator/audit/verify.js';
import type { Entry } from '../../operator/audit/entry.js';
import { eventually } from '../support/eventually.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import type { OperatorProcess } from '../support/operator-process.js';
import { ProcessKubelet } from '../support/process-kubelet.js';
import { federatedJob, JOB_NAMESPACE, OPERATOR_NAMESPACE, startHub, type Hub } from './hub-fixture.js';
import { HEART_TRAINER } from '../support/heart-trainer.js';

jest.setTimeout(600_000);

const SITE_NAMESPACE = 'flotilla-site';
const DATA = { a: 'processed.cleveland.data', b: 'processed.hungarian.data', c: 'processed.va.data' } as const;
type SiteName = keyof typeof DATA;

interface Hospital {
  name: SiteName;
  cluster: ControlPlane;
  kubelet: ProcessKubelet;
  agent?: ChildProcess;
}

describe('end to end: hub, three hospitals, federated jobs', () => {
  let hub: Hub;
  let operator: OperatorProcess;
  let auditFile: string;
  let heartModelSha256 = '';
  const hospitals: Hospital[] = [];
  const hubNs = `--namespace=${JOB_NAMESPACE}`;
  const jobField = (expr: string) => hub.kubectl('get', 'federatedjob', 'heart', hubNs, `--output=jsonpath=${expr}`);

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    hub = await startHub('e2e-hub');
    auditFile = path.join(hub.cluster.dir, 'audit', 'operator.jsonl');
    operator = await hub.operator('operator-0', ['--aggregator-service-type=LoadBalancer', '--site-cleanup-grace=120', `--audit-file=${auditFile}`]);
    for (const name of ['a', 'b', 'c'] as const) {
      const cluster = await startControlPlane({ name: `e2e-site-${name}` });
      await cluster.kubectl(['create', 'namespace', SITE_NAMESPACE]);
      const kubelet = await ProcessKubelet.start({ kubeconfig: cluster.kubeconfig, namespaces: [SITE_NAMESPACE] });
      // The hospital's records, on the site's data volume; they never leave this cluster.
      const claim = kubelet.claimPath(SITE_NAMESPACE, 'site-data');
      await mkdir(claim, { recursive: true });
      await copyFile(path.join(packageRoot, 'examples/heart-disease/data', DATA[name]), path.join(claim, 'heart.csv'));
      hospitals.push({ name, cluster, kubelet });
    }
    await eventually(() => operator.isLeading(), 60_000, 'the operator to lead');
  });
  afterAll(async () => {
    for (const h of hospitals) {
      h.agent?.kill('SIGKILL');
      await h.kubelet.stop();
      await h.cluster.stop();
    }
    await hub?.stop();
  });

  const startAgent = async (h: Hospital) => {
    const dir = path.join(h.cluster.dir, 'agent');
    await mkdir(dir, { recursive: true });
    const secret = await hub.kubectl('get', 'secret', `flotilla-join-bundle-${h.name}`, `--namespace=${OPERATOR_NAMESPACE}`, '--output=jsonpath={.data.bundle}');
    await writeFile(path.join(dir, 'join-bundle'), Buffer.from(secret, 'base64'));
    // The hospital lets the hub's job namespace run the built-in trainer in the Flotilla image.
    await writeFile(path.join(dir, 'policy.json'), JSON.stringify({ allowedJobNamespaces: [JOB_NAMESPACE], allowedImages: ['ghcr.io/flotilla-dev/**'], trainers: { builtin: true } }));
    const args = [
      path.join(packageRoot, 'dist/operator/cli/main.js'),
      'site-agent',
      `--namespace=${SITE_NAMESPACE}`,
      `--state-dir=${path.join(dir, 'state')}`,
      `--kubeconfig=${h.cluster.kubeconfigPath}`,
      `--join=${path.join(dir, 'join-bundle')}`,
      `--policy=${path.join(dir, 'policy.json')}`,
    ];
    const log = createWriteStream(path.join(h.cluster.dir, 'site-agent.log'));
    h.agent = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    h.agent.stdout!.pipe(log);
    h.agent.stderr!.pipe(log);
  };

  test('the operator makes a join bundle per Site; the agents enrol and connect', async () => {
    for (const h of hospitals) await hub.apply({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: h.name }, spec: { allowedNamespaces: [JOB_NAMESPACE] } });
    for (const h of hospitals) {
      await eventually(
        () => hub.kubectl('get', 'secret', `flotilla-join-bundle-${h.name}`, `--namespace=${OPERATOR_NAMESPACE}`).then(() => true),
        30_000,
        `the join bundle of ${h.name}`,
      );
      expect(await hub.kubectl('get', 'site', h.name, '--output=jsonpath={.status.joinTokenExpiry}')).not.toBe('');
      await startAgent(h);
    }
    for (const h of hospitals) {
      await eventually(
        async () => (await hub.kubectl('get', 'site', h.name, '--output=jsonpath={.status.conditions[?(@.type=="Connected")].status}')) === 'True',
        60_000,
        `site ${h.name} to connect`,
      );
      const status = JSON.parse(await hub.kubectl('get', 'site', h.name, '--output=jsonpath={.status}'));
      expect(status).toMatchObject({ enrolled: true, agentVersion: expect.stringMatching(/^\d+\.\d+\.\d+/), runningJobs: 0 });
      expect(Date.parse(status.certificateExpiry)).toBeGreaterThan(Date.now());
      expect(status.joinTokenExpiry).toBeUndefined();
      // The spent token's bundle is gone.
      await eventually(
        () => hub.kubectl('get', 'secret', `flotilla-join-bundle-${h.name}`, `--namespace=${OPERATOR_NAMESPACE}`).then(() => false, () => true),
        30_000,
        `the bundle of ${h.name} to be removed`,
      );
    }
  });

  test('a FederatedJob trains across both hospitals to Succeeded, its status mirroring the aggregator', async () => {
    await hub.apply(
      federatedJob('heart', {
        rounds: 3,
        minSites: 2,
        // Short: a job that cannot train fails within a minute or two rather than after many.
        roundDeadlineSeconds: 20,
        heartbeatTimeoutSeconds: 10,
        data: { path: 'heart.csv' },
        trainer: HEART_TRAINER,
      }),
    );
    await eventually(async () => ['Succeeded', 'Failed'].includes(await jobField('{.status.phase}')), 300_000, 'the job to end');
    const job = JSON.parse(await hub.kubectl('get', 'federatedjob', 'heart', hubNs, '--output=json'));
    expect(job.status).toMatchObject({ phase: 'Succeeded', progress: '3/3', round: 3, observedGeneration: 1 });
    expect(job.status.model.location).toBe('pvc://research/heart-checkpoints/model.safetensors');
    // The checksum is the one of the file the aggregator wrote on its claim, and that file is the model.
    const modelFile = path.join(hub.kubelet.claimPath(JOB_NAMESPACE, 'heart-checkpoints'), 'model.safetensors');
    expect(job.status.model.sha256).toBe(createHash('sha256').update(await readFile(modelFile)).digest('hex'));
    heartModelSha256 = job.status.model.sha256;
    expect((await readSafetensors(modelFile)).model.map((t) => [t.name, t.shape])).toEqual([
      ['weight', [1, 4]],
      ['bias', [1]],
    ]);
    expect(job.status.latestMetrics.accuracy).toBeGreaterThan(0.5);
    expect(job.status.sites.map((s: { name: string; lastRound: number }) => [s.name, s.lastRound])).toEqual([
      ['a', 3],
      ['b', 3],
    ]);
    expect(job.status.conditions).toContainEqual(expect.objectContaining({ type: 'Succeeded', status: 'True' }));
    const reasons = (await hub.kubectl('get', 'events', hubNs, '--field-selector=involvedObject.name=heart', '--output=jsonpath={.items[*].reason}')).split(' ');
    expect(reasons).toEqual(expect.arrayContaining(['Created', 'Running', 'RoundCompleted', 'Succeeded']));
    // cleanupPolicy Delete: the aggregator is gone, the checkpoint claim (model, result) stays.
    await eventually(() => hub.kubectl('get', 'deployment', 'heart-aggregator', hubNs).then(() => false, () => true), 30_000, 'the aggregator to go');
    await hub.kubectl('get', 'pvc', 'heart-checkpoints', hubNs);
  });

  test('a job under central differential privacy with adaptive clipping trains on both hospitals; its status carries the ε the accountant gives for the rounds trained', async () => {
    const dpField = (expr: string) => hub.kubectl('get', 'federatedjob', 'heart-dp', hubNs, `--output=jsonpath=${expr}`);
    const trainer = { ...HEART_TRAINER, builtin: { ...HEART_TRAINER.builtin, dataset: { ...HEART_TRAINER.builtin.dataset, standardize: 'Local' } } };
    const privacy = { mode: 'Central', noiseMultiplier: 1, targetEpsilon: 16, delta: 1e-3, clipping: { l2Norm: 0.3, adaptive: { countStddev: 1, targetQuantile: 0.5, learningRate: 0.2 } } };
    await hub.apply(federatedJob('heart-dp', { rounds: 3, minSites: 2, roundDeadlineSeconds: 20, heartbeatTimeoutSeconds: 10, data: { path: 'heart.csv' }, trainer, privacy }));
    await eventually(async () => ['Succeeded', 'Failed'].includes(await dpField('{.status.phase}')), 300_000, 'the private job to end');
    const status = JSON.parse(await dpField('{.status}'));
    expect(status).toMatchObject({ phase: 'Succeeded', round: 3 });
    // Every selected site took part in every round (Fixed sampling, q = 1): ε is that of 3 Gaussian mechanisms of z = 1.
    expect(status.privacy.delta).toBe(1e-3);
    expect(status.privacy.budget).toBe(16);
    // Adaptive clipping splits z between the updates and the noised count: the round as a whole is still the mechanism of z.
    expect(status.privacy.epsilon).toBeCloseTo(epsilonFor(1, 1, 3, 1e-3).epsilon, 3);
    // The clip norm moved from round to round, as the aggregator in its pod recorded it on its claim.
    const result = JSON.parse(await readFile(path.join(hub.kubelet.claimPath(JOB_NAMESPACE, 'heart-dp-checkpoints'), 'result.json'), 'utf8'));
    const clips = result.rounds.filter((r: { privacy?: unknown }) => r.privacy).map((r: { privacy: { clipNorm: number } }) => r.privacy.clipNorm);
    expect(clips[0]).toBe(0.3);
    expect(new Set(clips).size).toBeGreaterThan(1);
    await hub.kubectl('delete', 'federatedjob', 'heart-dp', hubNs, '--wait=true', '--timeout=120s');
  });

  test('a job under local differential privacy: each site noises its update before it leaves; ε is the accountant\'s for a release of sensitivity 2C', async () => {
    const field = (expr: string) => hub.kubectl('get', 'federatedjob', 'heart-ldp', hubNs, `--output=jsonpath=${expr}`);
    const trainer = { ...HEART_TRAINER, builtin: { ...HEART_TRAINER.builtin, dataset: { ...HEART_TRAINER.builtin.dataset, standardize: 'Local' } } };
    const privacy = { mode: 'Local', noiseMultiplier: 1, delta: 1e-3, clipping: { l2Norm: 0.3 } };
    await hub.apply(federatedJob('heart-ldp', { rounds: 3, minSites: 2, roundDeadlineSeconds: 20, heartbeatTimeoutSeconds: 10, data: { path: 'heart.csv' }, trainer, privacy }));
    await eventually(async () => ['Succeeded', 'Failed'].includes(await field('{.status.phase}')), 300_000, 'the locally private job to end');
    const status = JSON.parse(await field('{.status}'));
    expect(status).toMatchObject({ phase: 'Succeeded', round: 3 });
    expect(status.privacy.epsilon).toBeCloseTo(epsilonFor(1, 0.5, 3, 1e-3).epsilon, 3);
    await hub.kubectl('delete', 'federatedjob', 'heart-ldp', hubNs, '--wait=true', '--timeout=120s');
  });

  test('a job under secure aggregation and distributed DP trains on three hospitals: the aggregator sees only sums of at least two', async () => {
    const field = (expr: string) => hub.kubectl('get', 'federatedjob', 'heart-secagg', hubNs, `--output=jsonpath=${expr}`);
    const trainer = { ...HEART_TRAINER, builtin: { ...HEART_TRAINER.builtin, dataset: { ...HEART_TRAINER.builtin.dataset, standardize: 'Local' } } };
    await hub.apply(
      federatedJob('heart-secagg', {
        sites: { names: ['a', 'b', 'c'] },
        rounds: 3,
        minSites: 2,
        roundDeadlineSeconds: 60,
        heartbeatTimeoutSeconds: 10,
        data: { path: 'heart.csv' },
        trainer,
        secureAggregation: { threshold: 2, clippingRange: 10, stageTimeoutSeconds: 10 },
        privacy: { mode: 'Distributed', noiseMultiplier: 1, delta: 1e-3, clipping: { l2Norm: 0.3 } },
      }),
    );
    await eventually(async () => ['Succeeded', 'Failed'].includes(await field('{.status.phase}')), 300_000, 'the securely aggregated job to end');
    const status = JSON.parse(await field('{.status}'));
    expect(status).toMatchObject({ phase: 'Succeeded', round: 3 });
    expect(status.privacy.epsilon).toBeCloseTo(epsilonFor(1, 1, 3, 1e-3).epsilon, 3);
    // What the aggregator's pod wrote on its claim: every round closed on a revealed sum of at least the threshold.
    const result = JSON.parse(await readFile(path.join(hub.kubelet.claimPath(JOB_NAMESPACE, 'heart-secagg-checkpoints'), 'result.json'), 'utf8'));
    const rounds = result.rounds.filter((r: { kind?: string; secureAggregation?: unknown }) => r.secureAggregation);
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    for (const r of rounds) {
      expect(r.secureAggregation.threshold).toBe(2);
      expect(r.secureAggregation.sites.length).toBeGreaterThanOrEqual(2);
    }
    expect(new Set(rounds.flatMap((r: { secureAggregation: { sites: string[] } }) => r.secureAggregation.sites))).toEqual(new Set(['a', 'b', 'c']));
    await hub.kubectl('delete', 'federatedjob', 'heart-secagg', hubNs, '--wait=true', '--timeout=120s');
  });

  test('a job under asynchronous buffered aggregation (FedBuff) trains on three hospitals: each version is made of two updates, each weighted by its staleness', async () => {
    const field = (expr: string) => hub.kubectl('get', 'federatedjob', 'heart-async', hubNs, `--output=jsonpath=${expr}`);
    const asynchronous = { bufferSize: 2, maxStaleness: 4, stalenessExponent: 0.5 };
    await hub.apply(
      federatedJob('heart-async', { sites: { names: ['a', 'b', 'c'] }, rounds: 3, minSites: 2, roundDeadlineSeconds: 60, heartbeatTimeoutSeconds: 10, data: { path: 'heart.csv' }, trainer: HEART_TRAINER, asynchronous }),
    );
    await eventually(async () => ['Succeeded', 'Failed'].includes(await field('{.status.phase}')), 300_000, 'the asynchronous job to end');
    // Deleted whatever the checks find: the tests after this one need a hub without it.
    try {
      const status = JSON.parse(await field('{.status}'));
      expect(status).toMatchObject({ phase: 'Succeeded', round: 3 });
      // What the aggregator's pod wrote on its claim: three versions, each of exactly two updates, each
      // weighted 1/(1+τ)^0.5 for the versions made since the one it was trained on.
      type Update = { site: string; trainedOn: number; staleness: number; stalenessWeight: number };
      const result = JSON.parse(await readFile(path.join(hub.kubelet.claimPath(JOB_NAMESPACE, 'heart-async-checkpoints'), 'result.json'), 'utf8'));
      const versions = result.rounds.filter((r: { asynchronous?: unknown }) => r.asynchronous) as { round: number; asynchronous: { version: number; updates: number }; sites: Update[] }[];
      expect(versions.map((r) => r.asynchronous.version)).toEqual([1, 2, 3]);
      for (const r of versions) {
        expect(r.asynchronous.updates).toBe(2);
        expect(r.sites).toHaveLength(2);
        for (const u of r.sites) {
          expect(u.staleness).toBe(r.round - 1 - u.trainedOn);
          expect(u.stalenessWeight).toBeCloseTo(1 / (1 + u.staleness) ** 0.5, 12);
        }
      }
      // The job's status mirrors each site's last applied update.
      const weighted = (status.sites as { staleness?: number; stalenessWeight?: number }[]).filter((x) => x.stalenessWeight !== undefined);
      expect(weighted.length).toBeGreaterThanOrEqual(2);
      for (const x of weighted) expect(x.stalenessWeight).toBeCloseTo(1 / (1 + x.staleness!) ** 0.5, 12);
    } finally {
      await hub.kubectl('delete', 'federatedjob', 'heart-async', hubNs, '--wait=true', '--timeout=120s');
    }
  });

  test('deleting the job waits for every site to remove its client, then cleans every cluster', async () => {
    // A second job, deleted while its clients run; site b's agent is paused so it cannot act yet.
    await hub.apply(federatedJob('lung', { sites: { names: ['a', 'b'] }, rounds: 100, minSites: 2, data: { path: 'heart.csv' } }));
    for (const h of hospitals.filter((x) => x.name !== 'c')) {
      await eventually(
        async () => (await h.cluster.kubectl(['get', 'pods', `--namespace=${SITE_NAMESPACE}`, '--selector=flotilla.dev/job=lung', '--output=name'])).trim() !== '',
        120_000,
        `the client pod of lung at ${h.name}`,
      );
    }
    const b = hospitals.find((h) => h.name === 'b')!;
    b.agent!.kill('SIGSTOP');
    await hub.kubectl('delete', 'federatedjob', 'lung', hubNs, '--wait=false');
    // Site a removes its client; the finalizer still holds the job for site b.
    const a = hospitals.find((h) => h.name === 'a')!;
    await eventually(
      async () => (await a.cluster.kubectl(['get', 'pods', `--namespace=${SITE_NAMESPACE}`, '--selector=flotilla.dev/job=lung', '--output=name'])).trim() === '',
      120_000,
      'site a to remove the client pod of lung',
    );
    expect(await hub.kubectl('get', 'federatedjob', 'lung', hubNs, '--output=jsonpath={.metadata.deletionTimestamp}')).not.toBe('');
    expect(await b.cluster.kubectl(['get', 'pods', `--namespace=${SITE_NAMESPACE}`, '--selector=flotilla.dev/job=lung', '--output=name'])).not.toBe('');
    b.agent!.kill('SIGCONT');
    await eventually(() => hub.kubectl('get', 'federatedjob', 'lung', hubNs).then(() => false, () => true), 120_000, 'the job to be released');

    await hub.kubectl('delete', 'federatedjob', 'heart', hubNs, '--wait=true', '--timeout=120s');
    const hubLeft = () => hub.kubectl('get', 'deployments,services,configmaps,secrets,pvc', hubNs, '--selector=app.kubernetes.io/managed-by=flotilla-operator', '--output=name');
    // Claims go last: kube-controller-manager holds them until the pods using them are gone.
    await eventually(async () => (await hubLeft()).trim() === '', 60_000, 'the hub to be clean');
    for (const h of hospitals) {
      await eventually(
        async () =>
          (await h.cluster.kubectl(['get', 'pods,secrets,configmaps', `--namespace=${SITE_NAMESPACE}`, '--selector=app.kubernetes.io/managed-by=flotilla-site-agent', '--output=name'])).trim() === '',
        60_000,
        `site ${h.name} to be clean`,
      );
    }
  });

  test("the hub's audit trail holds every enrolment, certificate, job and revocation, chained and unbroken", async () => {
    await hub.apply({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'b' }, spec: { allowedNamespaces: [JOB_NAMESPACE], revoked: true } });
    const siteUid = async (name: string) => hub.kubectl('get', 'site', name, '--output=jsonpath={.metadata.uid}');
    const [uidA, uidB] = [await siteUid('a'), await siteUid('b')];
    let entries: Entry[] = [];
    await eventually(
      async () => {
        entries = (await readFile(auditFile, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Entry);
        return entries.some((e) => e.event === 'site-revoked');
      },
      60_000,
      'the revocation of b in the trail',
    );
    const text = await readFile(auditFile, 'utf8');
    expect(verifyTrail(text)).toMatchObject({ ok: true, entries: entries.length });
    expect(entries.every((e) => e.actor === 'operator')).toBe(true);
    expect(entries[0]).toMatchObject({ seq: 1, event: 'leader-started', identity: 'operator-0' });

    // Each agent's enrolment names the certificate it holds.
    for (const [name, uid] of [['a', uidA], ['b', uidB]] as const) {
      const h = hospitals.find((x) => x.name === name)!;
      const identity = JSON.parse(await readFile(path.join(h.cluster.dir, 'agent', 'state', 'agent.json'), 'utf8'));
      const enrolled = entries.filter((e) => e.event === 'site-enrolled' && e.site === name);
      expect(enrolled).toHaveLength(1);
      expect(enrolled[0]).toMatchObject({ siteUid: uid, sha256Fingerprint: new X509Certificate(identity.certificatePem).fingerprint256 });
      // One client certificate per job the site ran (heart, heart-dp, heart-ldp, heart-secagg, heart-async and lung).
      const jobs = entries.filter((e) => e.event === 'client-certificate-issued' && e.site === name).map((e) => e.job);
      expect(new Set(jobs)).toEqual(new Set(['heart', 'heart-dp', 'heart-ldp', 'heart-secagg', 'heart-async', 'lung']));
    }
    const accepted = entries.filter((e) => e.event === 'job-accepted').map((e) => e.job);
    expect(accepted).toEqual(['heart', 'heart-dp', 'heart-ldp', 'heart-secagg', 'heart-async', 'lung']);
    const ended = entries.filter((e) => e.event === 'job-ended');
    expect(ended.map((e) => e.job)).toEqual(['heart', 'heart-dp', 'heart-ldp', 'heart-secagg', 'heart-async']);
    expect(ended[0]).toMatchObject({ job: 'heart', phase: 'Succeeded', round: 3, modelSha256: heartModelSha256 });
    expect(entries.filter((e) => e.event === 'site-revoked')).toEqual([expect.objectContaining({ site: 'b', siteUid: uidB })]);
    // The trail's order is the order things happened: enrolments before their certificates, the job's start before its end.
    const seqOf = (pred: (e: Entry) => boolean) => entries.find(pred)!.seq;
    expect(seqOf((e) => e.event === 'site-enrolled' && e.site === 'a')).toBeLessThan(seqOf((e) => e.event === 'client-certificate-issued' && e.site === 'a'));
    expect(seqOf((e) => e.event === 'job-accepted' && e.job === 'heart')).toBeLessThan(seqOf((e) => e.event === 'job-ended'));
  });
});
