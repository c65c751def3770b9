/**
 * npm run bench:privacy
 *
 * What differential privacy costs the heart-disease job: runs `flotilla simulate` of
 * examples/heart-disease/federatedjob-dp.yaml without privacy and under several settings, and writes
 * the table (ε, mean per-site test accuracy, bytes the sites sent, time) into docs/privacy.md; with
 * secure aggregation too, alone and with distributed DP,
 * between its results markers. Single runs: the noise differs every time.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { kib, root, simulateOnce, writeTable } from './simulate-runs.js';

const example = path.join(root, 'examples/heart-disease/federatedjob-dp.yaml');
const docs = path.join(root, 'docs/privacy.md');

interface Setting {
  label: string;
  /** The privacy block, or null for none. */
  privacy: string | null;
  rounds: number;
  /** The secureAggregation block, if any. */
  secure?: string;
}

const settings: Setting[] = [
  { label: 'no privacy', privacy: null, rounds: 10 },
  { label: 'Central, z = 1, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 1.0, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 10 },
  { label: 'Central, z = 1.5, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 1.5, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 10 },
  { label: 'Central, z = 2.5, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 2.5, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 5 },
  { label: 'Central, Poisson q = 0.5, z = 1, C = 0.3', privacy: 'mode: Central, noiseMultiplier: 1.0, delta: 0.001, clipping: {l2Norm: 0.3}, sampling: {mode: Poisson, rate: 0.5}', rounds: 10 },
  { label: 'Local, z = 1, C = 0.3', privacy: 'mode: Local, noiseMultiplier: 1.0, delta: 0.001, clipping: {l2Norm: 0.3}', rounds: 10 },
  { label: 'secure aggregation (t = 2), no DP', privacy: null, secure: 'threshold: 2, clippingRange: 10, stageTimeoutSeconds: 10', rounds: 10 },
  {
    label: 'secure aggregation (t = 2), Distributed, z = 1, C = 0.3',
    privacy: 'mode: Distributed, noiseMultiplier: 1.0, delta: 0.001, clipping: {l2Norm: 0.3}',
    secure: 'threshold: 2, clippingRange: 10, stageTimeoutSeconds: 10',
    rounds: 10,
  },
];

/** The example with this setting's privacy block and rounds. */
function manifestOf(example: string, s: Setting): string {
  const start = example.indexOf('  privacy:\n');
  const end = example.indexOf('  trainer:\n');
  const block = (s.privacy ? `  privacy: {${s.privacy}}\n` : '') + (s.secure ? `  secureAggregation: {${s.secure}}\n` : '');
  return (example.slice(0, start) + block + example.slice(end)).replace(/^ {2}rounds: \d+$/m, `  rounds: ${s.rounds}`);
}

async function main(): Promise<void> {
  const text = await readFile(example, 'utf8');
  const rows: string[] = [];
  for (const s of settings) {
    const { summary, seconds, uploadBytes } = await simulateOnce(manifestOf(text, s), example);
    const epsilon = summary.privacy ? summary.privacy.epsilon.toFixed(2) : '∞';
    const row = `| ${s.label} | ${summary.rounds.length} | ${epsilon} | ${summary.meanTestAccuracy?.toFixed(3) ?? '-'} | ${kib(uploadBytes)} | ${seconds.toFixed(1)} s |`;
    process.stdout.write(row + '\n');
    rows.push(row);
  }
  await writeTable(docs, 'privacy', [
    '| setting | rounds | ε at δ = 10⁻³ | mean per-site test accuracy | update bytes sent | time (simulate, build excluded) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ]);
}

await main();
