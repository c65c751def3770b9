/**
 * Real nodes change machine-wide state (network namespaces of fixed names, cgroups, sysctls), so
 * one test at a time holds them: an exclusive flock(1) on a file, held by a child process for as
 * long as its stdin stays open. If this process dies, the pipe closes and the lock goes with it.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface MachineLock {
  release(): Promise<void>;
}

export async function lockMachine(file: string, onWait?: () => void): Promise<MachineLock> {
  await mkdir(path.dirname(file), { recursive: true });
  // `cat` holds the lock until its stdin (our pipe) closes.
  const child = spawn('flock', ['--exclusive', file, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const waiting = setTimeout(() => onWait?.(), 1_000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => reject(new Error(`flock ${file} exited with code ${code} before taking the lock`)));
      child.stdout.setEncoding('utf8').once('data', () => resolve());
    });
  } finally {
    clearTimeout(waiting);
  }
  return {
    async release() {
      child.stdin.end();
      await exited;
    },
  };
}
