/**
 * Where a sandbox keeps what `up`, the background process that holds the clusters and `down` share:
 * its state (pid, phase, kubeconfig paths), its progress lines (what `up` shows) and its log.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

export const SANDBOX_DIR = process.env.FLOTILLA_SANDBOX_DIR ?? path.join(homedir(), '.cache/flotilla/sandbox');
export const STATE_FILE = path.join(SANDBOX_DIR, 'state.json');
export const PROGRESS_FILE = path.join(SANDBOX_DIR, 'progress.log');
export const LOG_FILE = path.join(SANDBOX_DIR, 'sandbox.log');

export interface SandboxState {
  pid: number;
  phase: 'starting' | 'up' | 'failed' | 'stopping';
  /** What runs the pods: 'real nodes ...' or 'process kubelets ...'. */
  nodes: string;
  /** With process kubelets: the folders its processes name, for a sweep if this process dies. */
  folders?: string[];
  /** Kubeconfig file of the hub and of each hospital. */
  kubeconfigs: Record<string, string>;
  /** Where the job's aggregator serves /status and /metrics, once it does. */
  aggregatorStatus?: string;
  message?: string;
  /** Milliseconds from the start of `up` to the job applied. */
  upMs?: number;
}

export async function readState(): Promise<SandboxState | undefined> {
  const text = await readFile(STATE_FILE, 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as SandboxState) : undefined;
}

export async function writeState(state: SandboxState): Promise<void> {
  await mkdir(SANDBOX_DIR, { recursive: true });
  await writeFile(`${STATE_FILE}.tmp`, JSON.stringify(state, null, 2));
  await rename(`${STATE_FILE}.tmp`, STATE_FILE);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
