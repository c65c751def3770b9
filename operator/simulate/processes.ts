import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';

/**
 * The roles of a simulation run as real processes of the same CLI a pod would run, each with its
 * log in a file, so what is simulated is what is deployed.
 */
export interface RoleProcess {
  name: string;
  logFile: string;
  child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
}

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');

export function startRole(name: string, args: string[], logDir: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RoleProcess {
  const logFile = path.join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      log.end();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { name, logFile, child, exited };
}

/** Waits for a role's ready file (written atomically by the role), failing early if the role dies. */
export async function waitForReadyFile<T>(role: RoleProcess, file: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let dead: number | string | undefined;
  void role.exited.then((code) => (dead = code));
  while (Date.now() < deadline) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as T;
    } catch {
      if (dead !== undefined) throw new Error(`${role.name} exited (${dead}) before it was ready; see ${role.logFile}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${role.name} was not ready within ${timeoutMs / 1000}s; see ${role.logFile}`);
}

/** Stops a role: SIGTERM, then SIGKILL after a grace period. */
export async function stopRole(role: RoleProcess, graceMs = 5_000): Promise<void> {
  if (role.child.exitCode !== null || role.child.signalCode !== null) return;
  role.child.kill('SIGTERM');
  const timer = setTimeout(() => role.child.kill('SIGKILL'), graceMs);
  await role.exited;
  clearTimeout(timer);
}

/** The last lines of a role's log, to quote when it failed. */
export async function logTail(role: RoleProcess, lines = 15): Promise<string> {
  const text = await readFile(role.logFile, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
