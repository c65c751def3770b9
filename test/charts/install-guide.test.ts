/**
 * docs/install.md, run (install-guide.ts): its `sh hub` and `sh hospital` blocks, in order, with
 * bash, kubectl and the pinned helm, against a hub and two hospital control planes. The charts'
 * pods run for real as processes of this checkout's build (process kubelets), each with a
 * kubeconfig holding nothing but its own ServiceAccount's token, so the operator and the site
 * agents work with exactly the charts' RBAC. The hospitals join with the bundles the hub made, a
 * FederatedJob trains on their records to Succeeded, the model is where the status says, and
 * taking it all down leaves only what the guide says stays. test/real-node/install.test.ts runs the
 * same blocks on real nodes.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { ProcessKubelet } from '../support/process-kubelet.js';
import { difference, eventually, everyObject, serviceAccountKubeconfig } from './cluster.js';
import { helmBinary, helmEnv } from './helm.js';
import { GuideRunner, ignoringNamespaceDefaults, whatTheGuideLeaves } from './install-guide.js';

jest.setTimeout(600_000);

const HOSPITALS = ['cleveland', 'hungarian'] as const;
type Hospital = (typeof HOSPITALS)[number];

let hub: ControlPlane;
let hubKubelet: ProcessKubelet;
const hospitals = new Map<Hospital, { cluster: ControlPlane; kubelet: ProcessKubelet }>();
let workDir: string;
let credentialsDir: string;
const credentials = (cluster: ControlPlane) => path.join(credentialsDir, `${cluster.name}.kubeconfig`);
let guide: GuideRunner;
let hubBaseline: Set<string>;
const hospitalBaselines = new Map<Hospital, Set<string>>();

/** The last lines each pod wrote, for a failure's message. */
async function podLogs(): Promise<string> {
  const out: string[] = [];
  const places: [ControlPlane, ProcessKubelet, string[]][] = [
    [hub, hubKubelet, ['flotilla-system', 'cardiology']],
    ...[...hospitals.values()].map(({ cluster, kubelet }): [ControlPlane, ProcessKubelet, string[]] => [cluster, kubelet, ['flotilla']]),
  ];
  for (const [cluster, kubelet, namespaces] of places) {
    for (const namespace of namespaces) {
      const names = (await cluster.kubectl(['get', 'pods', '-n', namespace, '-o', 'name']).catch(() => '')).split('\n').filter(Boolean);
      for (const name of names.map((n) => n.replace('pod/', ''))) {
        const tail = (await kubelet.logs(namespace, name)).trimEnd().split('\n').slice(-15).join('\n');
        out.push(`--- ${cluster.name} ${namespace}/${name} ---\n${tail}`);
      }
    }
  }
  return out.join('\n');
}

const hubGet = async <T>(...args: string[]) => JSON.parse(await hub.kubectl([...args, '--output=json'])) as T;

beforeAll(() => Promise.all([resolveBinDir(), helmBinary()]), 30 * 60_000);

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'flotilla-install-guide-'));
  await symlink(path.join(packageRoot, 'charts'), path.join(workDir, 'charts'));
  const [h, ...sites] = await Promise.all(
    ['guide-hub', ...HOSPITALS.map((name) => `guide-${name}`)].map((name) => startControlPlane({ name, withControllerManager: true })),
  );
  hub = h!;
  // The pods authenticate as their ServiceAccount (written once the chart has made it): the
  // process kubelets hand every pod this kubeconfig, which only the operator and the agent use.
  // Not under /tmp, which the kubelet would take for the pods' own /tmp volume.
  credentialsDir = await mkdtemp('/var/tmp/flotilla-install-guide-');
  hubKubelet = await ProcessKubelet.start({ kubeconfig: hub.kubeconfig, namespaces: ['flotilla-system', 'cardiology'], env: { KUBECONFIG: credentials(hub) } });
  for (const [i, name] of HOSPITALS.entries()) {
    const cluster = sites[i]!;
    const kubelet = await ProcessKubelet.start({ kubeconfig: cluster.kubeconfig, namespaces: ['flotilla'], nodeName: `${name}-node`, env: { KUBECONFIG: credentials(cluster) } });
    hospitals.set(name, { cluster, kubelet });
  }
  // What the clusters hold before the guide (the kubelets' Nodes included).
  hubBaseline = await everyObject(hub);
  for (const [name, { cluster, kubelet }] of hospitals) {
    hospitalBaselines.set(name, await everyObject(cluster));
    // The one step the guide leaves to the hospital: its records, in the folder that stands for /srv/records/<site>.
    const records = kubelet.claimPath('flotilla', 'site-data');
    await mkdir(records, { recursive: true });
    await copyFile(path.join(packageRoot, `examples/heart-disease/data/processed.${name}.data`), path.join(records, 'heart.csv'));
  }
  guide = new GuideRunner({
    workDir,
    binDirs: [await resolveBinDir(), path.dirname(await helmBinary())],
    env: helmEnv(),
    kubeconfigs: Object.fromEntries([['hub', hub.kubeconfigPath], ...[...hospitals].map(([name, { cluster }]) => [name, cluster.kubeconfigPath])]),
    diagnostics: podLogs,
  });
}, 300_000);

afterAll(async () => {
  if (process.env.FLOTILLA_GUIDE_TRANSCRIPT) process.stdout.write(guide?.transcript.join('\n') ?? '');
  for (const { kubelet } of hospitals.values()) await kubelet.stop();
  await hubKubelet?.stop();
  await Promise.all([hub, ...[...hospitals.values()].map((h) => h.cluster)].map((c) => c?.stop()));
  await Promise.all([workDir, credentialsDir].map((dir) => dir && rm(dir, { recursive: true, force: true })));
});

/** Copies the ServiceAccount's token kubeconfig to where the kubelet's pods read it. */
async function podCredentials(cluster: ControlPlane, namespace: string, serviceAccount: string): Promise<void> {
  const file = await serviceAccountKubeconfig(cluster, namespace, serviceAccount);
  await copyFile(file, credentials(cluster));
}

describe('docs/install.md, run', () => {
  test('has the sections this test checks, in order', () => {
    expect(guide.sections).toEqual(['1. The hub', '2. Admitting a hospital', '3. At the hospital', '4. A job', '5. Where the model ends up', '6. Taking it down']);
  });

  test('1. The hub: the operator, with only its chart RBAC, leads and serves the gateway at the load balancer', async () => {
    const [install, ...rest] = guide.section('1. The hub');
    await guide.run(install!);
    await podCredentials(hub, 'flotilla-system', 'flotilla-operator');
    for (const block of rest) await guide.run(block);
    // The leader's pod, and it alone, carries the label the gateway Service selects.
    let seen: unknown;
    await eventually(
      async () => {
        const lease = await hubGet<{ spec: { holderIdentity: string } }>('get', 'lease', 'flotilla-operator', '-n', 'flotilla-system');
        const pods = await hubGet<{ items: { metadata: { name: string; labels: Record<string, string> } }[] }>(
          'get', 'pods', '-n', 'flotilla-system', '-l', 'app.kubernetes.io/component=operator',
        );
        seen = { holder: lease.spec.holderIdentity, labelled: pods.items.filter((p) => p.metadata.labels['flotilla.dev/leader'] === 'true').map((p) => p.metadata.name) };
        return JSON.stringify(seen) === JSON.stringify({ holder: lease.spec.holderIdentity, labelled: [lease.spec.holderIdentity] });
      },
      60_000,
      'the leader alone labelled',
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
    });
  });

  test('2. Admitting a hospital: the operator makes each Site\'s join bundle, naming the load balancer', async () => {
    await guide.runSection('2. Admitting a hospital');
    const gateway = (await hub.kubectl(['get', 'service', 'flotilla-gateway', '-n', 'flotilla-system', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim();
    for (const name of HOSPITALS) {
      const bundle = JSON.parse(Buffer.from((await readFile(path.join(workDir, `${name}.join`), 'utf8')).trim(), 'base64').toString());
      expect(bundle).toMatchObject({ site: name, hub: `${gateway}:7443`, enrollment: `${gateway}:7444` });
      expect(bundle.caPem).toContain('BEGIN CERTIFICATE');
    }
  });

  test('3. At the hospital: each agent, with only its namespace Role, enrols and connects', async () => {
    const blocks = guide.section('3. At the hospital');
    const [install] = blocks;
    for (const [name, { cluster }] of hospitals) {
      // The agent's ServiceAccount exists once the chart is in; its pod restarts until it can read the token.
      const installing = guide.run(install!, name);
      await eventually(() => cluster.kubectl(['get', 'serviceaccount', 'flotilla-site-agent', '-n', 'flotilla']).then(() => true), 60_000, 'the agent ServiceAccount');
      await podCredentials(cluster, 'flotilla', 'flotilla-site-agent');
      await installing;
    }
    for (const block of blocks.slice(1)) await guide.runEverywhere(block);
    for (const [name, { cluster, kubelet }] of hospitals) {
      const site = await hubGet<{ status: { enrolled: boolean; agentVersion: string } }>('get', 'site', name);
      expect(site.status).toMatchObject({ enrolled: true, agentVersion: expect.stringMatching(/^\d+\.\d+\.\d+/) });
      // The agent's key stayed at the hospital, on its own claim.
      const identity = JSON.parse(await readFile(path.join(kubelet.claimPath('flotilla', 'flotilla-site-agent-state'), 'agent.json'), 'utf8'));
      expect(identity).toMatchObject({ site: name, keyPem: expect.stringContaining('PRIVATE KEY') });
      // The records' claim is bound to the chart's hostPath volume.
      expect((await cluster.kubectl(['get', 'pvc', 'site-data', '-n', 'flotilla', '-o', 'jsonpath={.status.phase}'])).trim()).toBe('Bound');
    }
  });

  test('4. A job: it trains on both hospitals\' records, through the aggregator\'s load balancer, to Succeeded', async () => {
    await guide.runSection('4. A job');
    const job = await hubGet<{ status: { phase: string; round: number; sites: { name: string; lastRound: number }[]; latestMetrics: { accuracy: number } } }>(
      'get', 'federatedjob', 'heart-disease', '-n', 'cardiology',
    );
    expect(job.status).toMatchObject({ phase: 'Succeeded', round: 5 });
    expect(job.status.sites.map((s) => [s.name, s.lastRound])).toEqual([['cleveland', 5], ['hungarian', 5]]);
    expect(job.status.latestMetrics.accuracy).toBeGreaterThan(0.6);
  });

  test('5. Where the model ends up: on the checkpoint claim, with the checksum the status gives', async () => {
    await guide.runSection('5. Where the model ends up');
    const { status } = await hubGet<{ status: { model: { location: string; sha256: string } } }>('get', 'federatedjob', 'heart-disease', '-n', 'cardiology');
    expect(status.model.location).toBe('pvc://cardiology/heart-disease-checkpoints/model.safetensors');
    const model = await readFile(path.join(hubKubelet.claimPath('cardiology', 'heart-disease-checkpoints'), 'model.safetensors'));
    expect(createHash('sha256').update(model).digest('hex')).toBe(status.model.sha256);
  });

  test('6. Taking it down: nothing is left but the CRDs, the hub CAs, the revoked sites, its Lease and the hospitals\' records volumes', async () => {
    await guide.runSection('6. Taking it down');
    const expected = whatTheGuideLeaves(HOSPITALS);
    const left = async () => ({
      hub: ignoringNamespaceDefaults(difference(hubBaseline, await everyObject(hub))),
      ...Object.fromEntries(
        await Promise.all(
          [...hospitals].map(async ([name, { cluster }]) => [name, ignoringNamespaceDefaults(difference(hospitalBaselines.get(name)!, await everyObject(cluster)))]),
        ),
      ),
    });
    let last: unknown;
    await eventually(
      async () => {
        last = await left();
        return JSON.stringify(last) === JSON.stringify(expected);
      },
      120_000,
      'only what the guide says stays',
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last, null, 2)}`);
    });
  });
});
