import { createHash } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import { parseFederatedJob, type FederatedJob } from '../../api/federatedjob.js';
import { aggregatorDeployment } from './aggregator-deployment.js';
import { aggregatorService, aggregatorServiceDnsNames } from './aggregator-service.js';
import { aggregatorTlsSecret } from './aggregator-tls.js';
import { checkpointClaim } from './checkpoint-claim.js';
import { jobManifest, specConfigMap } from './job-manifest.js';
import { jobNameProblem } from './names.js';

function job(spec: Record<string, unknown> = {}, name = 'heart'): FederatedJob {
  const parsed = parseFederatedJob({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'research' },
    spec: {
      sites: { names: ['a', 'b'] },
      rounds: 3,
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } },
      ...spec,
    },
  });
  // As read back from the API server.
  return { ...parsed, metadata: { ...parsed.metadata, uid: 'uid-1', generation: 4, resourceVersion: '77', managedFields: [{}] }, status: { phase: 'Running' } };
}

const credentials = { caPem: 'CA PEM', certificatePem: 'CERT PEM', privateKeyPem: 'KEY PEM' };
const deploymentOptions = { defaultImage: 'ghcr.io/flotilla/flotilla:0.1.0', certificatePem: credentials.certificatePem };

function allObjects(j: FederatedJob) {
  return [specConfigMap(j, 'SIGNED LIST'), aggregatorTlsSecret(j, credentials), checkpointClaim(j), aggregatorDeployment(j, deploymentOptions), aggregatorService(j)];
}

describe("a job's objects at the hub", () => {
  test('are named after the job, live in its namespace, are labelled and owned by it', () => {
    const objects = allObjects(job());
    expect(objects.map((o) => `${o.kind}/${o.metadata!.name}`)).toEqual([
      'ConfigMap/heart-spec',
      `Secret/heart-aggregator-tls-${createHash('sha256').update('CERT PEM').digest('hex').slice(0, 10)}`,
      'PersistentVolumeClaim/heart-checkpoints',
      'Deployment/heart-aggregator',
      'Service/heart-aggregator',
    ]);
    for (const o of objects) {
      expect(o.metadata!.namespace).toBe('research');
      expect(o.metadata!.labels).toMatchObject({ 'flotilla.dev/job': 'heart', 'app.kubernetes.io/managed-by': 'flotilla-operator' });
      expect(o.metadata!.ownerReferences).toEqual([
        { apiVersion: 'flotilla.dev/v1alpha1', kind: 'FederatedJob', name: 'heart', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
      ]);
    }
  });

  test('cannot be owned by a job that was not read from the API server', () => {
    const j = job();
    delete j.metadata.uid;
    expect(() => specConfigMap(j, '')).toThrow(/no uid/);
  });

  test('the spec ConfigMap holds the job as the aggregator parses it, without status or bookkeeping', () => {
    const j = job();
    const text = specConfigMap(j, 'SIGNED LIST').data!['job.json']!;
    expect(specConfigMap(j, 'SIGNED LIST').data!['revocations.json']).toBe('SIGNED LIST');
    expect(text).toBe(jobManifest(j));
    const manifest = JSON.parse(text);
    expect(manifest.status).toBeUndefined();
    expect(manifest.metadata).toEqual({ name: 'heart', namespace: 'research', uid: 'uid-1', generation: 4 });
    expect(parseFederatedJob(manifest).spec).toEqual(j.spec);
  });

  test('the TLS Secret holds the credentials in the --tls-dir layout, under a name of its certificate', () => {
    const secret = aggregatorTlsSecret(job(), credentials);
    expect(Object.keys(secret.data!).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    // Created once, never changed: the operator may not read or write it afterwards.
    expect(secret.immutable).toBe(true);
    const text = (key: string) => Buffer.from(secret.data![key]!, 'base64').toString('utf8');
    expect({ caPem: text('ca.crt'), certificatePem: text('tls.crt'), privateKeyPem: text('tls.key') }).toEqual(credentials);
    expect(aggregatorTlsSecret(job(), { ...credentials, certificatePem: 'RENEWED' }).metadata.name).not.toBe(secret.metadata.name);
  });

  test('the checkpoint claim takes its size and class from spec.checkpoint', () => {
    expect(checkpointClaim(job()).spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
    const sized = checkpointClaim(job({ checkpoint: { storageSize: '5Gi', storageClassName: 'fast' } }));
    expect(sized.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } });
  });
});

describe('the aggregator Deployment', () => {
  const deployment = aggregatorDeployment(job(), deploymentOptions);
  const pod = deployment.spec!.template.spec as V1PodSpec;
  const container = pod.containers[0] as V1Container;

  test('runs one aggregator, never two at once, selected by job', () => {
    expect(deployment.spec!.replicas).toBe(1);
    expect(deployment.spec!.strategy).toEqual({ type: 'Recreate' });
    expect(deployment.spec!.template.metadata!.labels).toMatchObject(deployment.spec!.selector.matchLabels!);
    expect(aggregatorService(job()).spec!.selector).toEqual(deployment.spec!.selector.matchLabels);
  });

  test('its Service carries the federation port only, a load balancer too: metrics and /status stay on the pod', () => {
    for (const type of ['ClusterIP', 'LoadBalancer'] as const) {
      expect(aggregatorService(job(), type).spec!.ports!.map((p) => `${p.name}:${p.port}`)).toEqual(['grpc:8443']);
    }
  });

  test('runs `flotilla aggregator` on the mounted job, TLS files and checkpoint volume', () => {
    expect(container.image).toBe('ghcr.io/flotilla/flotilla:0.1.0');
    expect(container.command).toEqual(['flotilla', 'aggregator']);
    expect(container.args).toEqual([
      '--job=/etc/flotilla/job/job.json',
      '--namespace=research',
      '--listen=0.0.0.0:8443',
      '--metrics-listen=0.0.0.0:9090',
      '--tls-dir=/etc/flotilla/tls',
      '--state-dir=/var/lib/flotilla',
      '--revocations=/etc/flotilla/job/revocations.json',
      '--linger',
    ]);
    const volumes = Object.fromEntries(pod.volumes!.map((v) => [v.name, v]));
    expect(volumes.job!.configMap!.name).toBe('heart-spec');
    expect(volumes.tls!.secret!.secretName).toBe(aggregatorTlsSecret(job(), credentials).metadata.name);
    expect(volumes.state!.persistentVolumeClaim!.claimName).toBe('heart-checkpoints');
    for (const mount of container.volumeMounts!) expect(volumes[mount.name]).toBeDefined();
    expect(container.ports!.map((p) => `${p.name}:${p.containerPort}`)).toEqual(['grpc:8443', 'metrics:9090']);
    expect(container.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  });

  test('meets the Pod Security "restricted" profile', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext!.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.securityContext!.capabilities!.add).toBeUndefined();
    expect(pod.hostNetwork ?? pod.hostPID ?? pod.hostIPC).toBeUndefined();
    const allowed = ['configMap', 'secret', 'persistentVolumeClaim', 'emptyDir', 'projected', 'downwardAPI', 'csi', 'ephemeral'];
    for (const volume of pod.volumes!) expect(allowed).toContain(Object.keys(volume).find((k) => k !== 'name'));
  });

  test('takes the image and resources of spec.aggregator', () => {
    const custom = aggregatorDeployment(
      job({ aggregator: { image: 'registry.example/agg:2', resources: { limits: { cpu: 2, memory: '1Gi' }, requests: { cpu: '500m' } } } }),
      deploymentOptions,
    );
    const c = custom.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('registry.example/agg:2');
    expect(c.resources).toEqual({ limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '500m' } });
  });

  test('restarts the aggregator when the job (its sites included) or the certificate changes, and only then', () => {
    const annotations = (j: FederatedJob, certificatePem: string) =>
      aggregatorDeployment(j, { ...deploymentOptions, certificatePem }).spec!.template.metadata!.annotations;
    const base = annotations(job(), 'A');
    expect(annotations(job(), 'A')).toEqual(base);
    expect(annotations(job(), 'B')).not.toEqual(base);
    const edited = job();
    edited.metadata.generation = 5;
    expect(annotations(edited, 'A')).not.toEqual(base);
    const moreSites = job();
    moreSites.spec.sites.names = ['a', 'b', 'c'];
    expect(annotations(moreSites, 'A')).not.toEqual(base);
  });
});

describe('job names', () => {
  test('must make a valid Service name', () => {
    expect(jobNameProblem('heart')).toBeUndefined();
    expect(jobNameProblem('a'.repeat(52))).toBeUndefined();
    expect(jobNameProblem('a'.repeat(53))).toMatch(/at most 52 characters/);
    expect(jobNameProblem('1heart')).toMatch(/start with a letter/);
  });

  test("the Service's DNS names are those the aggregator's certificate needs in the cluster", () => {
    expect(aggregatorServiceDnsNames(job())).toEqual([
      'heart-aggregator',
      'heart-aggregator.research',
      'heart-aggregator.research.svc',
      'heart-aggregator.research.svc.cluster.local',
    ]);
  });
});
