/**
 * What the benchmarks that compare job settings share: one `flotilla simulate` run of a manifest,
 * with its summary, time and the bytes the sites' logs say crossed the wire, and the writing of a
 * results table into a doc between its markers (the numbers in docs come from these runs).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Summary } from '../operator/simulate/outputs.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.join(here, '../..');
const cli = path.join(here, '../operator/cli/main.js');

export interface SimulateRun {
  summary: Summary;
  seconds: number;
  /** Bytes of the updates the sites sent, and of the models they received, summed over sites and rounds. */
  uploadBytes: number;
  downloadBytes: number;
}

/** Runs `flotilla simulate` of `manifest` (written beside `near`, whose data paths it names) and reads what it left. */
export async function simulateOnce(manifest: string, near: string): Promise<SimulateRun> {
  const file = path.join(path.dirname(near), `.bench-${process.pid}-${Date.now()}.yaml`);
  const out = await mkdtemp(path.join(os.tmpdir(), 'flotilla-bench-'));
  try {
    await writeFile(file, manifest);
    const started = Date.now();
    await run(process.execPath, [cli, 'simulate', file, '--out', out], { timeout: 900_000 });
    const seconds = (Date.now() - started) / 1000;
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary;
    const [uploadBytes, downloadBytes] = await wireBytes(out, summary.sites.map((s) => s.site));
    return { summary, seconds, uploadBytes, downloadBytes };
  } finally {
    await rm(file, { force: true });
    await rm(out, { recursive: true, force: true });
  }
}

/** What each site's client logged as sent ("update sent") and received ("model received"). */
async function wireBytes(out: string, sites: string[]): Promise<[number, number]> {
  let [up, down] = [0, 0];
  for (const site of sites) {
    const log = await readFile(path.join(out, 'logs', `site-${site}.log`), 'utf8');
    for (const line of log.split('\n')) {
      if (line.includes('"update sent"')) up += JSON.parse(line).bytes ?? 0;
      else if (line.includes('"model received"')) down += JSON.parse(line).bytes ?? 0;
    }
  }
  return [up, down];
}

export function kib(bytes: number): string {
  return bytes ? `${(bytes / 1024).toFixed(1)} KiB` : '-';
}

/** Replaces what lies between `<!-- bench:NAME begin -->` and `<!-- bench:NAME end -->` in `doc` with `lines`. */
export async function writeTable(doc: string, name: string, lines: string[]): Promise<void> {
  const [begin, end] = [`<!-- bench:${name} begin -->`, `<!-- bench:${name} end -->`];
  const text = await readFile(doc, 'utf8');
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < 0) throw new Error(`${doc} has no ${begin} … ${end} markers`);
  await writeFile(doc, text.slice(0, a) + [begin, ...lines, end].join('\n') + text.slice(b + end.length));
  process.stdout.write(`wrote the table into ${path.relative(root, doc)}\n`);
}
