/**
 * The sandbox's background process: it holds a hub and two hospital clusters (clusters.ts: real
 * nodes where they can run, else process kubelets; the load balancers, volume provisioner or
 * process kubelets live in this process), runs docs/install.md's blocks on them as the tests do,
 * applies the heart-disease job and waits for SIGTERM (`npm run sandbox:down`), then stops it all.
 */
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../operator/api/crds.js';
import { helmBinary, helmEnv } from '../test/charts/helm.js';
import { GuideRunner } from '../test/charts/install-guide.js';
import { resolveBinDir } from '../test/support/envtest/controlplane.js';
import { eventually } from '../test/support/eventually.js';
import { realNodeSkipReason } from '../test/support/real-node/real-nodes.js';
import { HOSPITALS, type SandboxClusters } from './clusters.js';
import { processClusters } from './process-clusters.js';
import { appendProgress } from './progress.js';
import { realNodeClusters } from './real-node-clusters.js';
import { SANDBOX_DIR, writeState, type SandboxState } from './state.js';

const JOB_ROUNDS = 20;

export async function serve(): Promise<void> {
  const started = Date.now();
  const skip = process.env.FLOTILLA_SANDBOX_NODES === 'process' ? 'FLOTILLA_SANDBOX_NODES=process asks for process kubelets' : realNodeSkipReason();
  const state: SandboxState = { pid: process.pid, phase: 'starting', nodes: skip ? 'process kubelets' : 'real nodes', kubeconfigs: {} };
  await writeState(state);
  const say = (line: string) => appendProgress(`${line} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  let clusters: SandboxClusters | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await writeState({ ...state, phase: 'stopping' });
    await say('stopping the clusters and sweeping what they left');
    await clusters?.stop();
    await say('down');
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));

  try {
    await say('the Kubernetes binaries (built from their Go modules on the first run)');
    const binDir = await resolveBinDir();
    const helm = await helmBinary();
    if (skip) {
      await say(`no real nodes (${skip}): three control planes whose pods run as processes of this checkout`);
      const made = await processClusters(SANDBOX_DIR);
      state.folders = made.folders;
      clusters = made;
    } else {
      await say('the image and three clusters, each with a real kubelet and containerd (hub, cleveland, hungarian)');
      clusters = await realNodeClusters(SANDBOX_DIR);
    }
    state.nodes = clusters.kind;
    state.kubeconfigs = clusters.kubeconfigs;
    await writeState(state);
    for (const name of HOSPITALS) await clusters.placeRecords(name, path.join(packageRoot, `examples/heart-disease/data/processed.${name}.data`));
    // The guide reader's folder: the join bundles land here (down removes it with the rest).
    const workDir = path.join(SANDBOX_DIR, 'guide');
    await mkdir(workDir, { recursive: true });
    await symlink(path.join(packageRoot, 'charts'), path.join(workDir, 'charts'));
    const c = clusters;
    const guide = new GuideRunner({ workDir, binDirs: [binDir, path.dirname(helm)], env: helmEnv(), kubeconfigs: c.kubeconfigs, diagnostics: () => c.diagnostics() });
    for (const [section, what] of [
      ['1. The hub', 'helm install of the hub chart, then its gateway address'],
      ['2. Admitting a hospital', 'the two Sites and their join bundles'],
      ['3. At the hospital', 'helm install of the site chart at each hospital; both enrol'],
    ] as const) {
      await say(`docs/install.md, ${section}: ${what}`);
      await guide.runSection(section);
    }
    await say(`the heart-disease job (${JOB_ROUNDS} rounds)`);
    await c.kubectl('hub', ['apply', '-f', '-'], YAML.stringify(guideJob(guide)));
    let address = '';
    await eventually(
      async () =>
        !!(address = await c.kubectl('hub', ['get', 'service', 'heart-disease-aggregator', '--namespace=cardiology', '--output=jsonpath={.status.loadBalancer.ingress[0].ip}'])),
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
function guideJob(guide: GuideRunner): Record<string, unknown> {
  const block = guide.section('4. A job')[0]!;
  const manifest = /<<'EOF'\n([\s\S]*?)\nEOF/.exec(block.code)?.[1];
  if (!manifest) throw new Error("docs/install.md, section 4, has no manifest between <<'EOF' and EOF");
  const job = YAML.parse(manifest) as { spec: { rounds: number } };
  job.spec.rounds = JOB_ROUNDS;
  return job as unknown as Record<string, unknown>;
}
