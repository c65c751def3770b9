/**
 * docs/install.md, run: its `sh hub` and `sh hospital` blocks, in order, with bash, kubectl and
 * the pinned helm, against a hub and a hospital control plane. The charts' pods run for real as
 * processes of this checkout's build (process kubelets), each with a kubeconfig holding nothing but
 * its own ServiceAccount's token, so the operator and the site agent work with exactly the charts'
 * RBAC. The hospital joins with the bundle the hub made, a FederatedJob trains on its records to
 * Succeeded, the model is where the status says, and taking it all down leaves only what the guide
 * says stays.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { ProcessKubelet } from '../support/process-kubelet.js';
import { difference, eventually, everyObject, serviceAccountKubeconfig } from './cluster.js';
import { helmBinary, helmEnv } from './helm.js';

jest.setTimeout(600_000);

type Role = 'hub' | 'hospital';
interface Block {
  section: string;
  role: Role;
  code: string;
}

/** The guide's runnable blocks by section ("## 1. The hub" -> "1. The hub"). */
function guideBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  let section = '';
  const fence = /^```sh (hub|hospital)\n([\s\S]*?)^```$/gm;
  const headings = [...text.matchAll(/^## (.+)$/gm)].map((m) => ({ at: m.index, title: m[1]! }));
  for (const m of text.matchAll(fence)) {
    section = headings.filter((h) => h.at < m.index).pop()?.title ?? section;
    blocks.push({ section, role: m[1] as Role, code: m[2]! });
  }
  return blocks;
}

const blocks = guideBlocks(readFileSync(path.join(packageRoot, 'docs/install.md'), 'utf8'));
const sections = [...new Set(blocks.map((b) => b.section))];

let hub: ControlPlane;
let hospital: ControlPlane;
let hubKubelet: ProcessKubelet;
let hospitalKubelet: ProcessKubelet;
let workDir: string;
let credentialsDir: string;
const credentials = (cluster: ControlPlane) => path.join(credentialsDir, `${cluster.name}.kubeconfig`);
let bin: string;
let hubBaseline: Set<string>;
let hospitalBaseline: Set<string>;
const transcript: string[] = [];

/** Runs one block as the guide's reader would, in the shared working folder (where cleveland.join lands). */
async function run(block: Block): Promise<void> {
  const cluster = block.role === 'hub' ? hub : hospital;
  const env = { ...helmEnv(), PATH: `${bin}:${path.dirname(await helmBinary())}:${process.env.PATH}`, KUBECONFIG: cluster.kubeconfigPath };
  const child = spawn('bash', ['-euo', 'pipefail', '-c', block.code], { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const code = await new Promise<number>((resolve, reject) => child.once('error', reject).once('close', (c) => resolve(c ?? 1)));
  transcript.push(`$ [${block.role}]\n${block.code}${output}`);
  if (code !== 0) throw new Error(`a ${block.role} block of "${block.section}" failed (${code}):\n${block.code}\n--- output ---\n${output}\n${await podLogs()}`);
}

/** The last lines each pod wrote, for a failure's message. */
async function podLogs(): Promise<string> {
  const out: string[] = [];
  for (const [cluster, kubelet, namespaces] of [
    [hub, hubKubelet, ['flotilla-system', 'cardiology']],
    [hospital, hospitalKubelet, ['flotilla']],
  ] as const) {
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

const runSection = async (title: string) => {
  const mine = blocks.filter((b) => b.section === title);
  expect(mine.length).toBeGreaterThan(0);
  for (const block of mine) await run(block);
};
const hubGet = async <T>(...args: string[]) => JSON.parse(await hub.kubectl([...args, '--output=json'])) as T;

beforeAll(() => Promise.all([resolveBinDir(), helmBinary()]), 30 * 60_000);

beforeAll(async () => {
  bin = await resolveBinDir();
  workDir = await mkdtemp(path.join(tmpdir(), 'flotilla-install-guide-'));
  await symlink(path.join(packageRoot, 'charts'), path.join(workDir, 'charts'));
  [hub, hospital] = await Promise.all([
    startControlPlane({ name: 'guide-hub', withControllerManager: true }),
    startControlPlane({ name: 'guide-hospital', withControllerManager: true }),
  ]);
  // The pods authenticate as their ServiceAccount (written once the chart has made it): the
  // process kubelets hand every pod this kubeconfig, which only the operator and the agent use.
  // Not under /tmp, which the kubelet would take for the pods' own /tmp volume.
  credentialsDir = await mkdtemp('/var/tmp/flotilla-install-guide-');
  hubKubelet = await ProcessKubelet.start({ kubeconfig: hub.kubeconfig, namespaces: ['flotilla-system', 'cardiology'], env: { KUBECONFIG: credentials(hub) } });
  hospitalKubelet = await ProcessKubelet.start({ kubeconfig: hospital.kubeconfig, namespaces: ['flotilla'], nodeName: 'records-node', env: { KUBECONFIG: credentials(hospital) } });
  // What the clusters hold before the guide (the kubelets' Nodes included).
  [hubBaseline, hospitalBaseline] = await Promise.all([everyObject(hub), everyObject(hospital)]);
  // The one step the guide leaves to the hospital: its records, in the folder that stands for /srv/records.
  const records = hospitalKubelet.claimPath('flotilla', 'site-data');
  await mkdir(records, { recursive: true });
  await copyFile(path.join(packageRoot, 'examples/heart-disease/data/processed.cleveland.data'), path.join(records, 'heart.csv'));
}, 300_000);

afterAll(async () => {
  if (process.env.FLOTILLA_GUIDE_TRANSCRIPT) process.stdout.write(transcript.join('\n'));
  await hospitalKubelet?.stop();
  await hubKubelet?.stop();
  await Promise.all([hub?.stop(), hospital?.stop()]);
  await Promise.all([workDir, credentialsDir].map((dir) => dir && rm(dir, { recursive: true, force: true })));
});

/** Copies the ServiceAccount's token kubeconfig to where the kubelet's pods read it. */
async function podCredentials(cluster: ControlPlane, namespace: string, serviceAccount: string): Promise<void> {
  const file = await serviceAccountKubeconfig(cluster, namespace, serviceAccount);
  await copyFile(file, credentials(cluster));
}

describe('docs/install.md, run', () => {
  test('has the sections this test checks, in order', () => {
    expect(sections).toEqual(['1. The hub', '2. Admitting a hospital', '3. At the hospital', '4. A job', '5. Where the model ends up', '6. Taking it down']);
  });

  test('1. The hub: the operator, with only its chart RBAC, leads and serves the gateway at the load balancer', async () => {
    const [install, ...rest] = blocks.filter((b) => b.section === '1. The hub');
    await run(install!);
    await podCredentials(hub, 'flotilla-system', 'flotilla-operator');
    for (const block of rest) await run(block);
    const lease = await hubGet<{ spec: { holderIdentity: string } }>('get', 'lease', 'flotilla-operator', '-n', 'flotilla-system');
    const pods = await hubGet<{ items: { metadata: { name: string }; status: { conditions?: { type: string; status: string }[] } }[] }>(
      'get', 'pods', '-n', 'flotilla-system', '-l', 'app.kubernetes.io/component=operator',
    );
    const ready = pods.items.filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    expect(ready.map((p) => p.metadata.name)).toEqual([lease.spec.holderIdentity]);
  });

  test('2. Admitting a hospital: the operator makes the Site\'s join bundle, naming the load balancer', async () => {
    await runSection('2. Admitting a hospital');
    const bundle = JSON.parse(Buffer.from((await readFile(path.join(workDir, 'cleveland.join'), 'utf8')).trim(), 'base64').toString());
    const gateway = (await hub.kubectl(['get', 'service', 'flotilla-gateway', '-n', 'flotilla-system', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim();
    expect(bundle).toMatchObject({ site: 'cleveland', hub: `${gateway}:7443`, enrollment: `${gateway}:7444` });
    expect(bundle.caPem).toContain('BEGIN CERTIFICATE');
  });

  test('3. At the hospital: the agent, with only its namespace Role, enrols and connects', async () => {
    const [install, ...rest] = blocks.filter((b) => b.section === '3. At the hospital');
    // The agent's ServiceAccount exists once the chart is in; its pod restarts until it can read the token.
    const installing = run(install!);
    await eventually(() => hospital.kubectl(['get', 'serviceaccount', 'flotilla-site-agent', '-n', 'flotilla']).then(() => true), 60_000, 'the agent ServiceAccount');
    await podCredentials(hospital, 'flotilla', 'flotilla-site-agent');
    await installing;
    for (const block of rest) await run(block);
    const site = await hubGet<{ status: { enrolled: boolean; agentVersion: string } }>('get', 'site', 'cleveland');
    expect(site.status).toMatchObject({ enrolled: true, agentVersion: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    // The agent's key stayed at the hospital, on its own claim.
    const identity = JSON.parse(await readFile(path.join(hospitalKubelet.claimPath('flotilla', 'flotilla-site-agent-state'), 'agent.json'), 'utf8'));
    expect(identity).toMatchObject({ site: 'cleveland', keyPem: expect.stringContaining('PRIVATE KEY') });
    // The records' claim is bound to the chart's hostPath volume.
    expect((await hospital.kubectl(['get', 'pvc', 'site-data', '-n', 'flotilla', '-o', 'jsonpath={.status.phase}'])).trim()).toBe('Bound');
  });

  test('4. A job: it trains on the hospital\'s records, through the aggregator\'s load balancer, to Succeeded', async () => {
    await runSection('4. A job');
    const job = await hubGet<{ status: { phase: string; round: number; sites: { name: string; lastRound: number }[]; latestMetrics: { accuracy: number } } }>(
      'get', 'federatedjob', 'heart-disease', '-n', 'cardiology',
    );
    expect(job.status).toMatchObject({ phase: 'Succeeded', round: 5 });
    expect(job.status.sites.map((s) => [s.name, s.lastRound])).toEqual([['cleveland', 5]]);
    expect(job.status.latestMetrics.accuracy).toBeGreaterThan(0.6);
  });

  test('5. Where the model ends up: on the checkpoint claim, with the checksum the status gives', async () => {
    await runSection('5. Where the model ends up');
    const { status } = await hubGet<{ status: { model: { location: string; sha256: string } } }>('get', 'federatedjob', 'heart-disease', '-n', 'cardiology');
    expect(status.model.location).toBe('pvc://cardiology/heart-disease-checkpoints/model.safetensors');
    const model = await readFile(path.join(hubKubelet.claimPath('cardiology', 'heart-disease-checkpoints'), 'model.safetensors'));
    expect(createHash('sha256').update(model).digest('hex')).toBe(status.model.sha256);
  });

  test('6. Taking it down: nothing is left but the CRDs, the hub CAs, the revoked sites, its Lease and the hospital\'s records volume', async () => {
    await runSection('6. Taking it down');
    const left = async () => ({ hub: difference(hubBaseline, await everyObject(hub)), hospital: difference(hospitalBaseline, await everyObject(hospital)) });
    const expected = {
      hub: {
        added: [
          'APIService v1alpha1.flotilla.dev',
          'ConfigMap flotilla-system/flotilla-revoked-sites',
          'CustomResourceDefinition federatedjobs.flotilla.dev',
          'CustomResourceDefinition sites.flotilla.dev',
          'Lease flotilla-system/flotilla-operator',
          'Namespace cardiology',
          'Namespace flotilla-system',
          'Secret flotilla-system/flotilla-job-ca',
          'Secret flotilla-system/flotilla-site-ca',
        ],
        removed: [],
      },
      hospital: { added: ['Namespace flotilla', 'PersistentVolume flotilla-flotilla-site-site-data', 'PersistentVolumeClaim flotilla/site-data'], removed: [] },
    };
    // The namespaces' own objects (default ServiceAccount, root CA ConfigMap) are the control plane's.
    const ignoringNamespaceDefaults = (d: { added: string[]; removed: string[] }) => ({
      added: d.added.filter((o) => !/^(ServiceAccount [^/]+\/default|ConfigMap [^/]+\/kube-root-ca\.crt)$/.test(o)),
      removed: d.removed,
    });
    let last: unknown;
    await eventually(
      async () => {
        const now = await left();
        last = { hub: ignoringNamespaceDefaults(now.hub), hospital: ignoringNamespaceDefaults(now.hospital) };
        return JSON.stringify(last) === JSON.stringify(expected);
      },
      120_000,
      'only what the guide says stays',
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last, null, 2)}`);
    });
  });
});
