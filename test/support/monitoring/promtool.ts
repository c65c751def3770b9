/**
 * promtool, the Prometheus project's own checker: of an exposition (what a /metrics answered), of
 * rule files, and of rule unit tests. Each resolves with promtool's exit code and its output.
 */
import { spawn } from 'node:child_process';
import { promtoolBinary } from './tools.js';

export interface PromtoolResult {
  code: number;
  output: string;
}

export async function promtool(args: string[], stdin?: string): Promise<PromtoolResult> {
  const child = spawn(await promtoolBinary(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stdin.end(stdin ?? '');
  const code = await new Promise<number>((resolve, reject) => child.once('error', reject).once('close', (c) => resolve(c ?? 1)));
  return { code, output };
}

/** `promtool check metrics`: the text format's syntax and Prometheus's naming conventions. */
export const checkMetrics = (exposition: string) => promtool(['check', 'metrics'], exposition);
