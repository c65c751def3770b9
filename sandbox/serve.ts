/**
 * The sandbox's background process: it holds a hub and two hospital clusters on real nodes (the
 * test harness of test/support/real-node, whose load balancers and volume provisioner live in this
 * process), runs docs/install.md's blocks on them as the end-to-end test does, applies the
 * heart-disease job and waits for SIGTERM (`npm run sandbox:down`), then stops and sweeps it all.
 */
import { copyFile, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../operator/api/crds.js';
import { helmBinary, helmEnv } from '../test/charts/helm.js';
import { GuideRunner } from '../test/charts/install-guide.js';
import { resolveBinDir } from '../test/support/envtest/controlplane.js';
import { eventually } from '../test/support/eventually.js';
import { podLogs } from '../test/support/real-node/pod-logs.js';
import { RealNodes, realNodeSkipReason, type RealCluster } from '../test/support/real-node/real-nodes.js';
import { appendProgress } from './progress.js';
import { SANDBOX_DIR, writeState, type SandboxState } from './state.js';

export const HOSPITALS = ['cleveland', 'hungarian'] as const;
const JOB_ROUNDS = 20;

export async function serve(): Promise<void> {
  const started = Date.now();
  const state: SandboxState = { pid: process.pid, phase: 'starting', nodes: 'real nodes', kubeconfigs: {} };
  await writeState(state);
  const say = (line: string) => appendProgress(`${line} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  let nodes: RealNodes | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await writeState({ ...state, phase: 'stopping' });
    await say('stopping the clusters and sweeping the machine');
    await nodes?.stop();
    await say('down');
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));

  try {
    const skip = realNodeSkipReason();
    if (skip) throw new Error(`the sandbox needs real nodes here and ${skip}`);
    await say('the Kubernetes binaries (built from their Go modules on the first run)');
    const binDir = await resolveBinDir();
    const helm = await helmBinary();
    await say('the image and three clusters, each with a real kubelet and containerd (hub, cleveland, hungarian)');
    nodes = await RealNodes.start();
    const clusters = await Promise.all(['hub', ...HOSPITALS].map((name) => nodes!.cluster(name)));
    const [hub] = clusters as [RealCluster, ...RealCluster[]];
    for (const cluster of clusters) {
      const file = path.join(SANDBOX_DIR, `${cluster.name}.kubeconfig`);
      await copyFile(cluster.controlPlane.kubeconfigPath, file);
      state.kubeconfigs[cluster.name] = file;
    }
    await writeState(state);
    // The hospitals' records, where the guide's site charts look for them.
    for (const name of HOSPITALS) {
      const folder = await nodes.hostFolder(`/srv/records/${name}`);
      await copyFile(path.join(packageRoot, `examples/heart-disease/data/processed.${name}.data`), path.join(folder, 'heart.csv'));
    }
    // The guide reader's folder: the join bundles land here (down removes it with the rest).
    const workDir = path.join(SANDBOX_DIR, 'guide');
    await mkdir(workDir, { recursive: true });
    await symlink(path.join(packageRoot, 'charts'), path.join(workDir, 'charts'));
    const guide = new GuideRunner({
      workDir,
      binDirs: [binDir, path.dirname(helm)],
      env: helmEnv(),
      kubeconfigs: state.kubeconfigs,
      diagnostics: () => podLogs(clusters),
    });
    for (const [section, what] of [
      ['1. The hub', 'helm install of the hub chart, then its gateway address'],
      ['2. Admitting a hospital', 'the two Sites and their join bundles'],
      ['3. At the hospital', 'helm install of the site chart at each hospital; both enrol'],
    ] as const) {
      await say(`docs/install.md, ${section}: ${what}`);
      await guide.runSection(section);
    }
    await say(`the heart-disease job (${JOB_ROUNDS} rounds)`);
    await hub.kubectl(['apply', '-f', '-'], YAML.stringify(await guideJob()));
    let address = '';
    await eventually(
      async () => !!(address = await hub.kubectl(['get', 'service', 'heart-disease-aggregator', '--namespace=cardiology', '--output=jsonpath={.status.loadBalancer.ingress[0].ip}'])),
      120_000,
      'the aggregator Service to get an address',
      500,
    );
    state.aggregatorStatus = `http://${address}:9090`;
    state.phase = 'up';
    state.upMs = Date.now() - started;
    await writeState(state);
    await say('up');
  } catch (error) {
    state.phase = 'failed';
    state.message = (error as Error).message;
    await writeState(state);
    console.error(state.message);
    await say(`failed: ${(error as Error).message.split('\n')[0]}`);
    await stop(1);
  }
}

/** The guide's job (section 4), with more rounds to watch. */
async function guideJob(): Promise<Record<string, unknown>> {
  const block = new GuideRunner({ workDir: '', binDirs: [], env: {}, kubeconfigs: {} }).section('4. A job')[0]!;
  const manifest = /<<'EOF'\n([\s\S]*?)\nEOF/.exec(block.code)?.[1];
  if (!manifest) throw new Error('docs/install.md, section 4, has no manifest between <<\'EOF\' and EOF');
  const job = YAML.parse(manifest) as { spec: { rounds: number } };
  job.spec.rounds = JOB_ROUNDS;
  return job as unknown as Record<string, unknown>;
}
