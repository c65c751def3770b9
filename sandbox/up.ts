/**
 * `npm run sandbox`: starts the sandbox's background process (serve.ts), shows its progress as it
 * goes, and once it is up prints the kubeconfigs and the commands to try. Run again while it is up,
 * it prints them again.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanUp } from './down.js';
import { showProgress } from './progress.js';
import { isAlive, LOG_FILE, readState, SANDBOX_DIR, type SandboxState } from './state.js';

const UP_TIMEOUT_MS = 40 * 60_000;

export async function up(): Promise<number> {
  const existing = await readState();
  if (existing?.phase === 'up' && isAlive(existing.pid)) {
    printNext(existing);
    return 0;
  }
  if (existing && isAlive(existing.pid)) {
    console.log(`a sandbox is ${existing.phase} (process ${existing.pid}): see ${LOG_FILE}, or npm run sandbox:down`);
    return 1;
  }
  // A sandbox whose process died: take its leftovers away first.
  if (existing) await cleanUp(existing);
  await rm(SANDBOX_DIR, { recursive: true, force: true });
  await mkdir(SANDBOX_DIR, { recursive: true });

  console.log(
    'Flotilla sandbox: a hub and two hospitals (Cleveland, Hungary), each a cluster of its own on this machine: on real nodes where root and containerd are there, else with pods run as processes.',
  );
  console.log(
    toolsBuilt()
      ? 'It takes about 2 minutes.'
      : 'First run: the Kubernetes binaries are built from their Go modules (about 10 minutes on 2 cores) and the image (about a minute); later runs take about 2 minutes.',
  );
  const log = openSync(LOG_FILE, 'a');
  const main = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
  const child = spawn(process.execPath, [main, 'serve'], { detached: true, stdio: ['ignore', log, log] });
  child.unref();

  const started = Date.now();
  let shown = 0;
  let buildNoted = false;
  for (;;) {
    shown = await showProgress(shown, (line) => console.log(`  ${line}`));
    if (!buildNoted && (await readFile(LOG_FILE, 'utf8').catch(() => '')).includes('install-tools: building')) {
      buildNoted = true;
      console.log('  building the Kubernetes binaries now: about 10 minutes, once');
    }
    const state = await readState();
    if (state?.phase === 'up') {
      printNext(state);
      return 0;
    }
    if (state?.phase === 'failed' || !isAlive(child.pid!)) {
      await showProgress(shown, (line) => console.log(`  ${line}`));
      console.log(`the sandbox did not come up: ${state?.message?.split('\n')[0] ?? 'its process exited'}`);
      console.log(`its log: ${LOG_FILE}`);
      return 1;
    }
    if (Date.now() - started > UP_TIMEOUT_MS) {
      console.log(`the sandbox is not up after ${UP_TIMEOUT_MS / 60_000} minutes: see ${LOG_FILE}; npm run sandbox:down takes it down`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Whether install-tools.sh has built the control-plane and node binaries before (a stamp folder with a kubelet). */
function toolsBuilt(): boolean {
  const tools = path.join(homedir(), '.cache/flotilla/tools');
  const dirs = existsSync(tools) ? readdirSync(tools) : [];
  return dirs.some((d) => d.startsWith('k8s-') && existsSync(path.join(tools, d, 'bin/kubelet'))) && dirs.some((d) => d.startsWith('helm-'));
}

function printNext(state: SandboxState): void {
  const hub = state.kubeconfigs.hub!;
  const lines = [
    '',
    `The sandbox is up${state.upMs ? ` (in ${Math.round(state.upMs / 1000)} s)` : ''} on ${state.nodes}: the operator and the site agents run from the charts, the heart-disease job is training.`,
    '',
    'Kubeconfigs:',
    ...Object.entries(state.kubeconfigs).map(([name, file]) => `  ${name.padEnd(10)} ${file}`),
    '',
    'Try:',
    `  export KUBECONFIG=${hub}`,
    '  kubectl get federatedjobs -A -w                    # rounds as they close (fj for short)',
    '  kubectl -n cardiology describe federatedjob heart-disease',
    '  kubectl get sites',
    `  kubectl --kubeconfig ${state.kubeconfigs.cleveland} -n flotilla get pods   # a hospital's agent and client`,
    ...(state.aggregatorStatus
      ? [`  curl ${state.aggregatorStatus}/status             # the aggregator's progress (and /metrics) while the job runs`]
      : []),
    '  (no Grafana dashboard here: Grafana cannot be built on this machine; its queries read /metrics)',
    '',
    'Take it down: npm run sandbox:down',
  ];
  console.log(lines.join('\n'));
}
