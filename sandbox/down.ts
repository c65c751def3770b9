/**
 * `npm run sandbox:down`: stops the sandbox's process, which stops the clusters and sweeps the
 * machine (test/support/real-node/sweep.ts); if that process is gone already, sweeps what it left.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { RealNodes } from '../test/support/real-node/real-nodes.js';
import { showProgress } from './progress.js';
import { isAlive, readState, SANDBOX_DIR, type SandboxState } from './state.js';

const DOWN_TIMEOUT_MS = 5 * 60_000;

export async function down(): Promise<number> {
  const started = Date.now();
  const state = await readState();
  if (!state) {
    console.log('no sandbox is up');
    return 0;
  }
  if (isAlive(state.pid)) {
    let shown = await showProgress(0, () => undefined);
    process.kill(state.pid, 'SIGTERM');
    while (isAlive(state.pid)) {
      if (Date.now() - started > DOWN_TIMEOUT_MS) {
        console.log(`the sandbox's process ${state.pid} is still stopping after ${DOWN_TIMEOUT_MS / 60_000} minutes: killing it and sweeping`);
        process.kill(state.pid, 'SIGKILL');
        break;
      }
      shown = await showProgress(shown, (line) => console.log(`  ${line}`));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await showProgress(shown, (line) => console.log(`  ${line}`));
  }
  await cleanUp(state);
  console.log(`sandbox down in ${((Date.now() - started) / 1000).toFixed(1)} s; nothing of it is left on this machine`);
  return 0;
}

/** Sweeps what a sandbox left (of real nodes: as a killed test's; of process kubelets: its processes and folders), and its own folder. */
export async function cleanUp(state: SandboxState | undefined): Promise<void> {
  if (state?.nodes.startsWith('real nodes')) await RealNodes.sweepLeftovers();
  for (const folder of state?.folders ?? []) {
    await killNaming(folder);
    await rm(folder, { recursive: true, force: true });
  }
  await rm(SANDBOX_DIR, { recursive: true, force: true });
}

/** Kills the processes whose command line or environment names the folder (control planes, pods run as processes). */
async function killNaming(folder: string): Promise<void> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const [cmdline, environ] = await Promise.all(['cmdline', 'environ'].map((f) => readFile(`/proc/${pid}/${f}`, 'utf8').catch(() => '')));
    if (`${cmdline}\0${environ}`.includes(folder)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
}
