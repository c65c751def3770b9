/**
 * A site agent against two real control planes: the hub's (Sites, token and CA Secrets, the
 * gateway in this process) and the hospital's (kwok plays kubelet; the test binds pods to its node,
 * standing in for the scheduler). The agent runs with exactly the Role of operator/site/rbac.ts in a
 * namespace where the API server enforces Pod Security "restricted". Assertions are on the state of
 * both clusters.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { startTestCluster, type TestCluster } from '../support/test-cluster.js';
import { kubeRequest } from '../../operator/kube/request.js';
import { SiteGateway } from '../../operator/sitelink/proto.js';
import type { AssignmentStatus } from '../../operator/sitelink/assignment.js';
import { identityOfPeer } from '../../operator/pki/identity.js';
import { createCsr } from '../../operator/pki/csr.js';
import { generateKeyPair } from '../../operator/pki/keys.js';
import { createLogger } from '../../operator/log.js';
import { loadIdentity } from '../../operator/site/agent-identity.js';
import { verifyTrail } from '../../operator/audit/verify.js';
import { clientObjectNames, JOB_FILE_KEY, MANAGED_SELECTOR, type Pod, type Secret, type ConfigMap } from '../../operator/site/client-objects.js';
import { startSiteAgent, type SiteAgent } from '../../operator/site/main.js';
import { parsePolicy } from '../../operator/site/policy.js';
import { agentNamespace as makeAgentNamespace, applySite, assignment, bindPendingPods, startHub, type TestHub } from './support.js';
import { until } from '../support/clock.js';

jest.setTimeout(180_000);

const NODE = 'site-node';
const policy = parsePolicy({
  allowedJobNamespaces: ['cardiology'],
  allowedImages: ['ghcr.io/flotilla/**'],
  trainers: { builtin: true },
  maxCpu: '2',
  maxMemory: '4Gi',
  allowGpu: false,
});

let hubCluster: TestCluster;
let siteCluster: ControlPlane;
let siteKc: KubeConfig;
let hub: TestHub;
let stopScheduler: (() => void) | undefined;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  [hubCluster, siteCluster] = await Promise.all([startTestCluster('hub-sites'), startControlPlane({ name: 'site', fakeNodes: [NODE] })]);
  siteKc = new KubeConfig();
  siteKc.loadFromString(siteCluster.kubeconfig);
  // Every report heard, so that a test can tell each one the agent sends.
  hub = await startHub(hubCluster.kc, { reportNoticeMs: 0 });
  await hubCluster.controlPlane.kubectl(['create', 'namespace', 'cardiology']);
  // The scheduler's part: bind every pending pod to the kwok node, which then runs it.
  stopScheduler = bindPendingPods(siteCluster, NODE);
});
afterAll(async () => {
  stopScheduler?.();
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await hub?.stop();
  await Promise.all([hubCluster?.stop(), siteCluster?.stop()]);
});

const agentNamespace = (namespace: string) => makeAgentNamespace(siteCluster, namespace);

async function objects(namespace: string) {
  const list = async <T>(plural: string) =>
    (await kubeRequest<{ items: T[] }>(siteKc, { method: 'GET', path: `/api/v1/namespaces/${namespace}/${plural}`, query: { labelSelector: MANAGED_SELECTOR } })).items;
  const [pods, secrets, configMaps] = await Promise.all([list<Pod>('pods'), list<Secret>('secrets'), list<ConfigMap>('configmaps')]);
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  const names = (items: { metadata?: { name?: string } }[]) => items.map((i) => i.metadata!.name!).sort();
  return { pods: live, secrets, configMaps, podNames: names(live), secretNames: names(secrets), configMapNames: names(configMaps) };
}

const expected = (...jobs: string[]) => ({
  podNames: jobs.map((job) => clientObjectNames({ namespace: 'cardiology', job }).pod).sort(),
  secretNames: jobs.map((job) => clientObjectNames({ namespace: 'cardiology', job }).secret).sort(),
  configMapNames: jobs.map((job) => clientObjectNames({ namespace: 'cardiology', job }).configMap).sort(),
});

async function expectExactly(namespace: string, ...jobs: string[]): Promise<void> {
  const want = expected(...jobs);
  await eventually(async () => {
    const now = await objects(namespace);
    return JSON.stringify([now.podNames, now.secretNames, now.configMapNames]) === JSON.stringify([want.podNames, want.secretNames, want.configMapNames]);
  }, 20_000, `exactly the objects of ${jobs.join(', ') || 'no job'} in ${namespace}`);
}

const reported = (site: string, job: string): AssignmentStatus | undefined => hub.sessions.get(site)?.assignments.find((a) => a.job === job);

async function startAgent(namespace: string, kubeconfig: string, stateDir: string, bundle?: string, log = 'site-agent'): Promise<SiteAgent> {
  const logger = createLogger(log);
  logger.level = 'error';
  return startSiteAgent({
    ...(bundle ? { joinBundle: async () => bundle } : {}),
    namespace,
    stateDir,
    kubeconfig,
    policy,
    siteDataClaim: 'site-data',
    backoff: { baseMs: 200, maxMs: 1_000 },
    keepalive: { timeMs: 1_000, timeoutMs: 1_000 },
    log: logger,
  });
}

describe('a site agent', () => {
  const NS = 'flotilla';
  let kubeconfig: string;
  let stateDir: string;
  let agent: SiteAgent;

  beforeAll(async () => {
    await applySite(hubCluster.controlPlane.kubectl, 'st-olav');
    await eventually(() => hub.sites.get('st-olav') !== undefined, 10_000, 'the Site in the cache');
    kubeconfig = await agentNamespace(NS);
    stateDir = await mkdtemp(join(tmpdir(), 'flotilla-agent-'));
    cleanup.push(() => rm(stateDir, { recursive: true, force: true }));
  });
  afterAll(() => agent?.stop());

  test('enrols with its token once: the key stays in its state directory, the token is spent', async () => {
    const { bundle } = await hub.issueToken('st-olav', 600);
    agent = await startAgent(NS, kubeconfig, stateDir, bundle);
    expect(agent.site).toBe('st-olav');
    const file = await stat(join(stateDir, 'agent.json'));
    expect(file.mode & 0o777).toBe(0o600);
    const identity = await loadIdentity(stateDir);
    expect(identityOfPeer(new X509Certificate(identity!.certificatePem))).toEqual({ role: 'site-agent', site: 'st-olav' });
    await eventually(() => hub.sessions.get('st-olav') !== undefined, 10_000, 'the agent to connect');

    const elsewhere = await mkdtemp(join(tmpdir(), 'flotilla-agent-'));
    cleanup.push(() => rm(elsewhere, { recursive: true, force: true }));
    await expect(startAgent(NS, kubeconfig, elsewhere, bundle)).rejects.toThrow(/join token was refused/);

    const { bundle: shortLived, expiresAt } = await hub.issueToken('st-olav', 1);
    await until(expiresAt);
    await expect(startAgent(NS, kubeconfig, elsewhere, shortLived)).rejects.toThrow(/join token was refused/);
  });

  test("runs an assignment's client pod, certificate and job manifest, within Pod Security restricted", async () => {
    const heart = assignment('heart');
    hub.assignments.set('st-olav', [heart]);
    await expectExactly(NS, 'heart');
    const { pods, secrets, configMaps } = await objects(NS);
    const [pod, secret, configMap] = [pods[0]!, secrets[0]!, configMaps[0]!];
    for (const obj of [pod, secret, configMap]) {
      expect(obj.metadata?.labels).toMatchObject({
        'flotilla.dev/job': 'heart',
        'flotilla.dev/job-namespace': 'cardiology',
        'app.kubernetes.io/managed-by': 'flotilla-site-agent',
      });
    }
    expect(pod.metadata?.managedFields?.map((f) => f.manager)).toContain('flotilla-site-agent');
    expect(pod.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const container = pod.spec!.containers[0]!;
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.command).toEqual(['flotilla', 'client']);
    expect(container.args).toEqual(expect.arrayContaining(['--site', 'st-olav', '--aggregator', heart.aggregatorAddress, '--namespace', 'cardiology']));
    // The policy's ceiling became the limit the job did not set.
    expect(container.resources).toEqual({ limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '500m', memory: '512Mi' } });
    expect(pod.spec!.volumes!.find((v) => v.name === 'data')!.persistentVolumeClaim).toEqual({ claimName: 'site-data', readOnly: true });
    expect(container.volumeMounts!.find((m) => m.name === 'data')!.readOnly).toBe(true);

    const text = (key: string) => Buffer.from(secret.data![key]!, 'base64').toString('utf8');
    const certificate = new X509Certificate(text('tls.crt'));
    expect(identityOfPeer(certificate)).toEqual({ role: 'client', namespace: 'cardiology', job: 'heart', site: 'st-olav' });
    expect(certificate.checkPrivateKey((await import('node:crypto')).createPrivateKey(text('tls.key')))).toBe(true);
    const jobCa = await hub.pki.jobCa({ namespace: 'cardiology', name: 'heart', uid: heart.jobUid });
    expect(text('ca.crt')).toBe(jobCa.anchorPem);
    expect(configMap.data).toEqual({ [JOB_FILE_KEY]: heart.jobManifest });

    await eventually(() => reported('st-olav', 'heart')?.phase === 'Running', 20_000, 'the hub to hear the pod runs');

    // The premise: this namespace does refuse a pod outside the profile.
    const rootPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'root', namespace: NS }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    await expect(siteCluster.kubectl(['apply', '-f', '-'], JSON.stringify(rootPod))).rejects.toThrow(/violates PodSecurity "restricted/);
  });

  test('refuses assignments outside its policy, reports why, and makes nothing for them', async () => {
    hub.assignments.set('st-olav', [
      assignment('heart'),
      assignment('foreign', { namespace: 'oncology' }),
      assignment('unknown-image', { image: 'docker.io/someone/miner:latest' }),
      assignment('gpu', { resourceLimits: { 'nvidia.com/gpu': '1' } }),
      assignment('greedy', { resourceRequests: { cpu: '8' } }),
    ]);
    await eventually(() => ['foreign', 'unknown-image', 'gpu', 'greedy'].every((job) => reported('st-olav', job)?.phase === 'Refused'), 20_000, 'the refusals');
    expect(reported('st-olav', 'foreign')!.message).toMatch(/jobs of hub namespace oncology are not allowed/);
    expect(reported('st-olav', 'unknown-image')!.message).toMatch(/image docker.io\/someone\/miner:latest matches none of allowedImages/);
    expect(reported('st-olav', 'gpu')!.message).toMatch(/nvidia.com\/gpu asked for, and this site allows no GPUs/);
    expect(reported('st-olav', 'greedy')!.message).toMatch(/cpu request 8 is above the site's ceiling 2/);
    expect(reported('st-olav', 'heart')!.phase).toBe('Running');
    await expectExactly(NS, 'heart');
  });

  test("removing an assignment deletes its pod, Secret and ConfigMap", async () => {
    hub.assignments.set('st-olav', [assignment('heart'), assignment('lungs')]);
    await expectExactly(NS, 'heart', 'lungs');
    hub.assignments.set('st-olav', [assignment('heart')]);
    await expectExactly(NS, 'heart');
    await eventually(() => reported('st-olav', 'lungs') === undefined, 10_000, 'lungs to leave the report');
  });

  test('a new client pod is reported as the pod it is from the first report, not first as one being created', async () => {
    // Each report the hub hears of the job (a report of "creating" then one of the pod were two status writes at the hub).
    const heard: string[] = [];
    const off = hub.sessions.onChange((site) => {
      const report = site === 'st-olav' ? reported(site, 'spleen') : undefined;
      if (report) heard.push(`${report.phase}: ${report.message}`);
    });
    try {
      hub.assignments.set('st-olav', [assignment('heart'), assignment('spleen')]);
      await eventually(() => reported('st-olav', 'spleen')?.phase === 'Running', 20_000, 'spleen to run');
    } finally {
      off();
    }
    expect(heard.length).toBeGreaterThan(0);
    expect(heard.filter((h) => h.includes('creating the client pod'))).toEqual([]);
    hub.assignments.set('st-olav', [assignment('heart')]);
    await expectExactly(NS, 'heart');
  });

  test('keeps working through a hub outage and reconciles on reconnect, with nothing duplicated or orphaned', async () => {
    const before = (await objects(NS)).pods[0]!;
    await hub.stopGateway();
    await eventually(() => hub.sessions.get('st-olav') === undefined, 5_000, 'the hub to lose the agent');
    await new Promise((r) => setTimeout(r, 2_000));
    const during = await objects(NS);
    expect(during.podNames).toEqual(expected('heart').podNames);
    expect(during.pods[0]!.metadata!.uid).toBe(before.metadata!.uid);

    // What the site should run changes while it cannot hear.
    hub.assignments.set('st-olav', [assignment('kidney')]);
    await hub.startGateway();
    await eventually(() => reported('st-olav', 'kidney')?.phase === 'Running', 30_000, 'the new job to run after the reconnect');
    await expectExactly(NS, 'kidney');
  });

  test('a restarted agent tells the hub at once what runs, and duplicates nothing', async () => {
    const before = (await objects(NS)).pods[0]!;
    await agent.stop();
    await eventually(() => hub.sessions.get('st-olav') === undefined, 5_000, 'the hub to lose the agent');
    hub.assignments.set('st-olav', [assignment('kidney')]);
    let atHello: AssignmentStatus[] | undefined;
    const unsubscribe = hub.sessions.onChange((site) => (atHello ??= site === 'st-olav' ? hub.sessions.get(site)?.assignments : undefined));
    agent = await startAgent(NS, kubeconfig, stateDir);
    await eventually(() => atHello !== undefined, 10_000, 'the agent to say hello');
    unsubscribe();
    expect(atHello).toEqual([expect.objectContaining({ namespace: 'cardiology', job: 'kidney', jobUid: assignment('kidney').jobUid, phase: 'Running' })]);
    await new Promise((r) => setTimeout(r, 1_000));
    const after = await objects(NS);
    expect(after.podNames).toEqual(expected('kidney').podNames);
    expect(after.pods[0]!.metadata!.uid).toBe(before.metadata!.uid);
  });

  test('a revoked site is cut off and refused', async () => {
    await hubCluster.controlPlane.kubectl(['patch', 'site', 'st-olav', '--type=merge', '-p', '{"spec":{"revoked":true}}']);
    await eventually(() => hub.sessions.get('st-olav') === undefined, 5_000, 'the stream to be cut');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(hub.sessions.get('st-olav')).toBeUndefined();

    const identity = (await loadIdentity(stateDir))!;
    const client = new SiteGateway(
      identity.hub,
      credentials.createSsl(Buffer.from(identity.caPem), Buffer.from(identity.keyPem), Buffer.from(identity.certificatePem)),
    );
    try {
      const key = await generateKeyPair();
      const csrPem = await createCsr({ role: 'client', namespace: 'cardiology', job: 'kidney', site: 'st-olav' }, key);
      const refusal = await new Promise<ServiceError>((resolve) => client.signClientCertificate({ namespace: 'cardiology', job: 'kidney', csrPem }, (err) => resolve(err!)));
      expect(refusal).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/revoked/) });
    } finally {
      client.close();
    }
  });

  test("its audit trail holds what it decided and did, each decision once, and verifies", async () => {
    const file = join(stateDir, 'audit.jsonl');
    const read = async () => (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    await eventually(async () => (await read()).some((e) => e.event === 'site-revoked'), 10_000, 'the revocation in the trail');
    expect(verifyTrail(await readFile(file, 'utf8')).ok).toBe(true);
    const entries = await read();
    const events = (event: string) => entries.filter((e) => e.event === event);
    expect(events('agent-started')).toHaveLength(2);
    expect(new Set(entries.map((e) => e.actor))).toEqual(new Set(['site-agent/st-olav']));
    // Every look at the set re-decides; only a change is written.
    expect(events('job-refused').map((e) => e.job).sort()).toEqual(['foreign', 'gpu', 'greedy', 'unknown-image']);
    expect(events('job-refused').find((e) => e.job === 'gpu')!.reason).toMatch(/this site allows no GPUs/);
    expect(events('client-pod-creating').map((e) => e.job)).toEqual(expect.arrayContaining(['heart', 'lungs', 'kidney']));
    expect(events('job-objects-removed').map((e) => e.job)).toEqual(expect.arrayContaining(['lungs']));
    expect(events('client-certificate-issued').every((e) => /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(e.sha256Fingerprint as string))).toBe(true);
    expect(events('client-certificate-issued').map((e) => e.job)).toEqual(expect.arrayContaining(['heart', 'lungs', 'kidney']));
  });
});

describe('certificate renewal', () => {
  const NS = 'flotilla-b';

  test('the agent renews its own and its clients\' certificates before they expire, without restarting a pod', async () => {
    // A hub whose certificates live 12 s: renewals are due after 8.
    const shortHub = await startHub(hubCluster.kc, { pki: { siteAgentValidSeconds: 12, clientValidSeconds: 12 } });
    cleanup.push(() => shortHub.stop());
    await applySite(hubCluster.controlPlane.kubectl, 'haukeland');
    await eventually(() => shortHub.sites.get('haukeland') !== undefined, 10_000, 'the Site in the cache');
    const kubeconfig = await agentNamespace(NS);
    const stateDir = await mkdtemp(join(tmpdir(), 'flotilla-agent-'));
    cleanup.push(() => rm(stateDir, { recursive: true, force: true }));
    shortHub.assignments.set('haukeland', [assignment('heart')]);
    const { bundle } = await shortHub.issueToken('haukeland', 600);
    const agentB = await startAgent(NS, kubeconfig, stateDir, bundle, 'site-agent-b');
    cleanup.push(() => agentB.stop());

    await eventually(async () => (await objects(NS)).pods[0]?.status?.phase === 'Running', 20_000, 'the client pod to run');
    const first = await objects(NS);
    const firstAgentCert = (await loadIdentity(stateDir))!.certificatePem;
    const firstClientCert = first.secrets[0]!.data!['tls.crt'];

    await eventually(async () => (await loadIdentity(stateDir))!.certificatePem !== firstAgentCert, 15_000, 'the agent certificate to be renewed');
    await eventually(async () => (await objects(NS)).secrets[0]?.data?.['tls.crt'] !== firstClientCert, 15_000, 'the client certificate to be renewed');
    const renewed = (await loadIdentity(stateDir))!;
    await eventually(
      () => shortHub.sessions.get('haukeland')?.certificateExpiry.getTime() === Date.parse(new X509Certificate(renewed.certificatePem).validTo),
      10_000,
      'the hub to see the agent on its renewed certificate',
    );
    const after = await objects(NS);
    expect(after.podNames).toEqual(first.podNames);
    expect(after.pods[0]!.metadata!.uid).toBe(first.pods[0]!.metadata!.uid);
    expect(after.pods[0]!.status!.phase).toBe('Running');
    expect(JSON.parse(await readFile(join(stateDir, 'agent.json'), 'utf8')).keyPem).not.toBe(undefined);
  });
});
