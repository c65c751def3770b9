/** Runs a command of the machine (ip, nft, ctr, podman, ...) and resolves to its stdout; an error carries its stderr. */
import { execFile } from 'node:child_process';

export function run(command: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

/** The same in a network namespace made by `ip netns add` (nsenter: the mount namespace stays the host's). */
export function runIn(netns: string, command: string, args: string[], options?: { timeoutMs?: number }): Promise<string> {
  return run('nsenter', [`--net=/run/netns/${netns}`, '--', command, ...args], options);
}

/** The command line that starts a long-running process in that network namespace. */
export function inNetns(netns: string, binary: string, args: string[]): [string, string[]] {
  return ['nsenter', [`--net=/run/netns/${netns}`, '--', binary, ...args]];
}
