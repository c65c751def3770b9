/**
 * The FederatedJob controllers in a real operator process against a real hub (API server,
 * kube-controller-manager, aggregator pods run by the process kubelet). Assertions are on the
 * cluster's state: objects, owners, field managers, status, Events, and how often status changed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { FederatedJob } from '../../operator/api/federatedjob.js';
import { Informer } from '../../operator/kube/informer.js';
import { eventually } from '../support/eventually.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import type { OperatorProcess } from '../support/operator-process.js';
import { federatedJob, JOB_NAMESPACE, OPERATOR_NAMESPACE, startHub, type Hub } from './hub-fixture.js';

jest.setTimeout(300_000);

interface Obj {
  metadata: {
    uid: string;
    generation?: number;
    finalizers?: string[];
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    managedFields?: { manager: string; operation: string; subresource?: string }[];
  };
  data?: Record<string, string>;
  status?: FederatedJob['status'];
}

describe('FederatedJob controllers', () => {
  let hub: Hub;
  let operator: OperatorProcess;
  let jobs: Informer<FederatedJob>;
  const get = async (kind: string, name: string): Promise<Obj> =>
    JSON.parse(await hub.kubectl('get', kind, name, `--namespace=${JOB_NAMESPACE}`, '--output=json', '--show-managed-fields'));
  const job = (name: string) => get('federatedjob', name) as Promise<Obj & FederatedJob>;
  const ready = async (name: string) => (await job(name)).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const running = (name: string) => eventually(async () => (await job(name)).status?.phase === 'Running', 90_000, `${name} to run`);
  const statusRequeues = () => operator.reconciles('federatedjob-status', ['requeue']);

  /**
   * Updates of job `name` seen by a watch while the status controller makes `passes` more passes.
   * Only running jobs are requeued, so with this job the only one running, every pass counted is
   * one over it. Ends once the watch has caught up with the API server.
   */
  const updatesOver = async (name: string, passes: number): Promise<number> => {
    const runningJobs = JSON.parse(await hub.kubectl('get', 'federatedjobs', `--namespace=${JOB_NAMESPACE}`, '--output=json')).items.filter(
      (j: FederatedJob) => j.status?.phase === 'Running',
    );
    expect(runningJobs.map((j: FederatedJob) => j.metadata.name)).toEqual([name]);
    let updates = 0;
    const off = jobs.onEvent((type, obj) => type === 'update' && obj.metadata.name === name && updates++);
    try {
      const start = await statusRequeues();
      await eventually(async () => (await statusRequeues()) >= start + passes, 60_000, `${passes} status passes`);
      const { resourceVersion } = (await job(name)).metadata as { resourceVersion?: string };
      await eventually(() => jobs.get(`${JOB_NAMESPACE}/${name}`)?.metadata.resourceVersion === resourceVersion, 30_000, 'the watch to catch up');
    } finally {
      off();
    }
    return updates;
  };

  /** The hub's own count of write requests, by "VERB resource" (no subresources). */
  const writesByVerb = async (): Promise<Map<string, number>> => {
    const counts = new Map<string, number>();
    for (const line of (await hub.kubectl('get', '--raw', '/metrics')).split('\n')) {
      const m = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
      const labels = m ? Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]])) : {};
      if (!m || !/^(APPLY|PATCH|POST|PUT)$/.test(labels.verb ?? '') || labels.subresource || !labels.resource) continue;
      const key = `${labels.verb} ${labels.resource}`;
      counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
    }
    return counts;
  };
  const diffCounts = (after: Map<string, number>, before: Map<string, number>) =>
    new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0));

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    hub = await startHub('fj');
    jobs = new Informer<FederatedJob>(hub.kc, { group: 'flotilla.dev', version: 'v1alpha1', plural: 'federatedjobs', namespace: JOB_NAMESPACE });
    await jobs.start();
    operator = await hub.operator('operator-0');
    await eventually(() => operator.isLeading(), 60_000, 'the operator to lead');
  });
  // Each test starts from a namespace without jobs.
  afterEach(() => hub.kubectl('delete', 'federatedjobs', '--all', `--namespace=${JOB_NAMESPACE}`, '--wait=true', '--timeout=120s'));
  afterAll(async () => {
    if (process.env.FLOTILLA_TEST_LOGS) await writeFile(`${process.env.FLOTILLA_TEST_LOGS}/operator.log`, await operator.log());
    jobs?.stop();
    await hub?.stop();
  });

  test('a job gets its objects, owned by it and applied by flotilla-operator, and a finalizer', async () => {
    await hub.apply(federatedJob('heart'));
    await eventually(() => get('deployment', 'heart-aggregator').then(() => true), 60_000, 'the aggregator Deployment');
    const { metadata } = await job('heart');
    expect(metadata.finalizers).toContain('flotilla.dev/cleanup');
    const deployment = await get('deployment', 'heart-aggregator');
    const tlsName = (deployment as unknown as { spec: { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } } }).spec.template.spec.volumes.find(
      (v) => v.name === 'tls',
    )!.secret!.secretName;
    for (const [kind, name] of [
      ['configmap', 'heart-spec'],
      ['secret', tlsName],
      ['persistentvolumeclaim', 'heart-checkpoints'],
      ['deployment', 'heart-aggregator'],
      ['service', 'heart-aggregator'],
    ] as const) {
      const obj = await get(kind, name);
      expect(obj.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'FederatedJob', name: 'heart', uid: metadata.uid, controller: true })]);
      expect(obj.metadata.labels).toMatchObject({ 'flotilla.dev/job': 'heart', 'app.kubernetes.io/managed-by': 'flotilla-operator' });
      // Applied, but for what a new job's pass creates: the TLS Secret (the operator may not change
      // Secrets here), the ConfigMap and the claim (a create proves the name free in one write).
      const operation = kind === 'deployment' || kind === 'service' ? 'Apply' : 'Update';
      expect(obj.metadata.managedFields).toContainEqual(expect.objectContaining({ manager: 'flotilla-operator', operation }));
    }
    // The aggregator's certificate: its identity, the names sites dial, issued by the job's own CA.
    const tls = await get('secret', tlsName);
    const pem = (key: string) => Buffer.from(tls.data![key]!, 'base64').toString('utf8');
    const cert = new X509Certificate(pem('tls.crt'));
    expect(cert.subjectAltName).toContain('URI:spiffe://heart.research.jobs.flotilla.dev/aggregator');
    expect(cert.subjectAltName).toContain('DNS:heart-aggregator.research.svc');
    expect(cert.verify(new X509Certificate(pem('ca.crt')).publicKey)).toBe(true);
    // The job's CA is in the operator's namespace; beside the job, only its public anchor.
    const caSecret = JSON.parse(await hub.kubectl('get', 'secret', `flotilla-job-ca-${metadata.uid}`, `--namespace=${OPERATOR_NAMESPACE}`, '--output=json')) as Obj;
    const jobCa = new X509Certificate(Buffer.from(caSecret.data!['tls.crt']!, 'base64'));
    const der = (c: X509Certificate) => c.publicKey.export({ type: 'spki', format: 'der' });
    expect(der(new X509Certificate(pem('ca.crt')))).toEqual(der(jobCa));
    expect(cert.verify(jobCa.publicKey)).toBe(true);
    await expect(get('secret', 'heart-flotilla-ca')).rejects.toThrow(/NotFound/);
  });

  test('the aggregator pod passes the restricted Pod Security profile and the job runs', async () => {
    await hub.apply(federatedJob('runs'));
    await running('runs');
    const status = (await job('runs')).status!;
    expect(status).toMatchObject({ observedGeneration: 1, progress: '0/3', sitesReady: '0/2', aggregatorEndpoint: 'runs-aggregator.research.svc:8443' });
    expect(status.startTime).toBeDefined();
    expect(status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True', reason: 'AggregatorAvailable', observedGeneration: 1 }));
    const reasons = () =>
      hub.kubectl('get', 'events', `--namespace=${JOB_NAMESPACE}`, '--field-selector=involvedObject.name=runs', '--output=jsonpath={.items[*].reason}');
    // Events are sent after the status write that marks the milestone.
    await eventually(
      async () => {
        const seen = (await reasons()).split(' ');
        return seen.includes('Created') && seen.includes('Running');
      },
      30_000,
      'the Created and Running Events',
    );
  });

  test("the operator's /metrics: jobs' phases, leadership, reconciles by result, reconcile durations, queue depths", async () => {
    await hub.apply(federatedJob('metered'));
    await running('metered');
    await eventually(
      async () => /^flotilla_federatedjob_phase\{namespace="research",federatedjob="metered",phase="Running"\} 1$/m.test(await operator.metrics()),
      30_000,
      'the running job counted',
    );
    const metrics = await operator.metrics();
    expect(metrics).toMatch(/^flotilla_federatedjob_phase\{namespace="research",federatedjob="metered",phase="Pending"\} 0$/m);
    expect(metrics).toMatch(/^flotilla_operator_leader 1$/m);
    expect(metrics).toMatch(/^flotilla_reconcile_total\{controller="federatedjob-workload",result="(success|requeue)"\} \d+$/m);
    expect(metrics).toMatch(/^flotilla_reconcile_total\{controller="federatedjob-status",result="requeue"\} \d+$/m);
    expect(metrics).toMatch(/^flotilla_reconcile_duration_seconds_count\{controller="federatedjob-workload"\} \d+$/m);
    expect(metrics).toMatch(/^flotilla_workqueue_depth\{controller="federatedjob-status"\} \d+$/m);
  });

  test('status is written once per change, with observedGeneration; an idle operator writes nothing', async () => {
    await hub.apply(federatedJob('quiet'));
    await running('quiet');
    await eventually(() => ready('quiet'), 30_000, 'the job to be Ready');
    expect(await updatesOver('quiet', 3)).toBe(0);
    // An operational field: what defines the training cannot change once the job exists.
    await hub.kubectl('patch', 'federatedjob', 'quiet', `--namespace=${JOB_NAMESPACE}`, '--type=merge', '--patch={"spec":{"roundDeadlineSeconds":300}}');
    await eventually(async () => (await job('quiet')).status?.observedGeneration === 2, 30_000, 'observedGeneration 2');
    // The aggregator restarts to read the new spec; once it is back, all is quiet again.
    await hub.kubectl('rollout', 'status', 'deployment/quiet-aggregator', `--namespace=${JOB_NAMESPACE}`, '--timeout=60s');
    await eventually(() => ready('quiet'), 30_000, 'the job to be Ready again');
    expect(await updatesOver('quiet', 3)).toBe(0);
  });

  test("a new job's first status carries its aggregator's address: it is not written once without it and again with it", async () => {
    const statuses: NonNullable<FederatedJob['status']>[] = [];
    const off = jobs.onEvent((_type, obj) => obj.metadata.name === 'addressed' && obj.status && statuses.push(obj.status));
    try {
      await hub.apply(federatedJob('addressed'));
      await eventually(() => statuses.length > 0, 30_000, 'the first status');
    } finally {
      off();
    }
    expect(statuses[0]!.aggregatorEndpoint).toBe('addressed-aggregator.research.svc:8443');
  });

  test("a new job's ConfigMap and claim cost one write each: created, not asked about by a patch and then applied", async () => {
    const before = await writesByVerb();
    await hub.apply(federatedJob('fresh'));
    await running('fresh');
    const made = diffCounts(await writesByVerb(), before);
    expect(made.get('POST configmaps')).toBe(1);
    expect(made.get('POST persistentvolumeclaims')).toBe(1);
    // No ownership patch (PATCH), no apply (APPLY) of either: kube-controller-manager only writes a claim's status.
    for (const verb of ['PATCH', 'APPLY', 'PUT']) {
      expect(made.get(`${verb} configmaps`)).toBeUndefined();
      expect(made.get(`${verb} persistentvolumeclaims`)).toBeUndefined();
    }
    // The Service and Deployment once each, though passes woken by the finalizer and the first
    // status may run before the caches hold them; and the job's objects are the job's.
    expect(made.get('APPLY services')).toBe(1);
    expect(made.get('APPLY deployments')).toBe(1);
    expect((await get('configmap', 'fresh-spec')).metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'FederatedJob', name: 'fresh', controller: true })]);
  });

  test("a workload pass that changes nothing writes none of the job's objects (a no-op apply is still a write)", async () => {
    await hub.apply(federatedJob('steady'));
    await running('steady');
    await eventually(() => ready('steady'), 30_000, 'the job to be Ready');
    // The hub's own count of the writes to the job's objects (kube-controller-manager writes only their status).
    const writes = async () => {
      let sum = 0;
      for (const line of (await hub.kubectl('get', '--raw', '/metrics')).split('\n')) {
        const m = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
        if (!m || !/verb="(APPLY|PATCH|POST|PUT)"/.test(m[1]!) || /subresource="[^"]+"/.test(m[1]!)) continue;
        if (/resource="(configmaps|persistentvolumeclaims|services|deployments)"/.test(m[1]!)) sum += Number(m[2]);
      }
      return sum;
    };
    const passes = () => operator.reconciles('federatedjob-workload');
    const [before, passesBefore] = [await writes(), await passes()];
    // A new aggregator pod: the Deployment's status moves, which wakes the workload for the job.
    await hub.kubectl('delete', 'pods', `--namespace=${JOB_NAMESPACE}`, '--selector=flotilla.dev/job=steady');
    await eventually(async () => (await passes()) >= passesBefore + 2, 60_000, 'workload passes over the job');
    await eventually(() => ready('steady'), 60_000, 'the job to be Ready again');
    expect(await writes()).toBe(before);
  });

  test('deleting the job removes everything it made, its CA too, then the job', async () => {
    await hub.apply(federatedJob('doomed'));
    // Running: the aggregator pod holds the checkpoint claim.
    await running('doomed');
    const uid = (await get('federatedjob', 'doomed')).metadata.uid;
    await hub.kubectl('delete', 'federatedjob', 'doomed', `--namespace=${JOB_NAMESPACE}`, '--wait=true', '--timeout=60s');
    const left = () =>
      hub.kubectl(
        'get',
        'deployments,services,configmaps,secrets,persistentvolumeclaims',
        `--namespace=${JOB_NAMESPACE}`,
        '--selector=app.kubernetes.io/managed-by=flotilla-operator,flotilla.dev/job=doomed',
        '--output=name',
      );
    // The claim goes last: kube-controller-manager holds it until the aggregator pod using it is gone.
    await eventually(async () => (await left()).trim() === '', 60_000, 'every object of the job to be gone');
    await expect(hub.kubectl('get', 'secret', `flotilla-job-ca-${uid}`, `--namespace=${OPERATOR_NAMESPACE}`)).rejects.toThrow(/NotFound/);
  });

  // The CRD refuses such a name now; the operator's InvalidName is for jobs stored before it did.
  test('a job that could not have its objects is refused by the API server', async () => {
    await expect(hub.apply(federatedJob('x'.repeat(53)))).rejects.toThrow(/metadata\.name: Invalid value: a FederatedJob's name must start with a lower-case letter and have at most 52/);
  });
});
