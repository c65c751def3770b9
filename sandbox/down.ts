/**
 * `npm run sandbox:down`: stops the sandbox's process, which stops the clusters and sweeps the
 * machine (test/support/real-node/sweep.ts); if that process is gone already, sweeps what it left.
 */
import { rm } from 'node:fs/promises';
import { RealNodes } from '../test/support/real-node/real-nodes.js';
import { showProgress } from './progress.js';
import { isAlive, readState, SANDBOX_DIR } from './state.js';

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
  await cleanUp();
  console.log(`sandbox down in ${((Date.now() - started) / 1000).toFixed(1)} s; nothing of it is left on this machine`);
  return 0;
}

/** Sweeps whatever a sandbox (or a killed test) left of real nodes, and the sandbox's folder. */
export async function cleanUp(): Promise<void> {
  await RealNodes.sweepLeftovers();
  await rm(SANDBOX_DIR, { recursive: true, force: true });
}
