/**
 * npm run bench:privacy
 *
 * What differential privacy costs the heart-disease job: runs `flotilla simulate` of
 * examples/heart-disease/federatedjob-dp.yaml without privacy and under several settings, and writes
 * the table (ε, mean per-site test accuracy, bytes the sites sent, time) into docs/privacy.md
 * between its results markers. Single runs: the noise differs every time.
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
const root = path.join(here, '../..');
const cli = path.join(here, '../operator/cli/main.js');
const exampleDir = path.join(root, 'examples/heart-disease');
const docs = path.join(root, 'docs/privacy.md');
const BEGIN = '<!-- bench:privacy begin -->';
const END = '<!-- bench:privacy end -->';

interface Setting {
  label: string;
  /** The privacy block, or null for none. */
  privacy: string | null;
  rounds: number;
}

const settings: Setting[] = [
  { label: 'no privacy', privacy: null, rounds: 10 },
  { label: 'Central, z = 1, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 1.0, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 10 },
  { label: 'Central, z = 1.5, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 1.5, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 10 },
  { label: 'Central, z = 2.5, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 2.5, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 5 },
  { label: 'Central, Poisson q = 0.5, z = 1, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 1.0, delta: 0.001, clipping: {l2Norm: 0.3}, sampling: {mode: Poisson, rate: 0.5}', rounds: 10 },
  { label: 'Local, z = 1, C = 0.3', privacy: 'mode: Local, noiseMultiplier: 1.0, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 10 },
];

/** The example with this setting's privacy block and rounds. */
function manifestOf(example: string, s: Setting): string {
  const start = example.indexOf('  privacy:\n');
  const end = example.indexOf('  trainer:\n');
  const block = s.privacy ? `  privacy: {${s.privacy}}\n` : '';
  return (example.slice(0, start) + block + example.slice(end)).replace(/^ {2}rounds: \d+$/m, `  rounds: ${s.rounds}`);
}

async function bytesSent(out: string): Promise<number> {
  let bytes = 0;
  for (const site of ['cleveland', 'hungarian', 'switzerland', 'va']) {
    const log = await readFile(path.join(out, 'logs', `site-${site}.log`), 'utf8');
    for (const line of log.split('\n')) {
      if (!line.includes('"update sent"')) continue;
      bytes += JSON.parse(line).bytes ?? 0;
    }
  }
  return bytes;
}

async function main(): Promise<void> {
  const example = await readFile(path.join(exampleDir, 'federatedjob-dp.yaml'), 'utf8');
  const rows: string[] = [];
  for (const s of settings) {
    const file = path.join(exampleDir, `.bench-privacy-${process.pid}.yaml`);
    const out = await mkdtemp(path.join(os.tmpdir(), 'flotilla-bench-privacy-'));
    try {
      await writeFile(file, manifestOf(example, s));
      const started = Date.now();
      await run(process.execPath, [cli, 'simulate', file, '--out', out], { timeout: 600_000 });
      const seconds = (Date.now() - started) / 1000;
      const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary;
      const epsilon = summary.privacy ? summary.privacy.epsilon.toFixed(2) : '∞';
      const bytes = await bytesSent(out);
      const row = `| ${s.label} | ${summary.rounds.length} | ${epsilon} | ${summary.meanTestAccuracy?.toFixed(3) ?? '-'} | ${bytes ? (bytes / 1024).toFixed(1) + ' KiB' : '-'} | ${seconds.toFixed(1)} s |`;
      process.stdout.write(row + '\n');
      rows.push(row);
    } finally {
      await rm(file, { force: true });
      await rm(out, { recursive: true, force: true });
    }
  }
  const table = [
    BEGIN,
    '| setting | rounds | ε at δ = 10⁻³ | mean per-site test accuracy | update bytes sent | time (simulate, build excluded) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    END,
  ].join('\n');
  const text = await readFile(docs, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < 0) throw new Error(`${docs} has no ${BEGIN} … ${END} markers`);
  await writeFile(docs, text.slice(0, a) + table + text.slice(b + END.length));
  process.stdout.write(`wrote the table into ${path.relative(root, docs)}\n`);
}

await main();
