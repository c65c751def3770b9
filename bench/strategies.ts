/**
 * npm run bench:strategies
 *
 * Every aggregation strategy on the heart-disease example (examples/heart-disease/federatedjob.yaml,
 * four hospitals, 20 rounds): runs `flotilla simulate` with each strategy, robust rule,
 * compression and asynchronous buffer, and writes the table (mean and worst per-site test accuracy of the final model, bytes
 * on the wire each way, time) into docs/aggregation.md between its results markers.
 * `--only LABEL,...` runs some rows and prints them without touching the doc.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { kib, root, simulateOnce, writeTable } from './simulate-runs.js';

const example = path.join(root, 'examples/heart-disease/federatedjob.yaml');
const docs = path.join(root, 'docs/aggregation.md');

interface Setting {
  label: string;
  /** The `strategy:` block's body, indented by four spaces. */
  strategy: string;
  /** More of the spec (its lines indented by two spaces), e.g. a compression block. */
  spec?: string;
}

const settings: Setting[] = [
  { label: 'FedAvg', strategy: 'name: FedAvg' },
  { label: 'FedProx, μ = 0.01', strategy: 'name: FedProx\nfedProx: {mu: 0.01}' },
  { label: 'FedAdam', strategy: 'name: FedAdam' },
  { label: 'FedYogi', strategy: 'name: FedYogi' },
  { label: 'FedAdagrad', strategy: 'name: FedAdagrad' },
  { label: 'SCAFFOLD', strategy: 'name: SCAFFOLD' },
  { label: 'Median', strategy: 'name: FedAvg\nrobust: {rule: Median}' },
  { label: 'TrimmedMean, β = 0.25', strategy: 'name: FedAvg\nrobust: {rule: TrimmedMean, trimFraction: 0.25}' },
  { label: 'Krum, f = 0', strategy: 'name: FedAvg\nrobust: {rule: Krum, hostileSites: 0}' },
  { label: 'MultiKrum, f = 0, m = 3', strategy: 'name: FedAvg\nrobust: {rule: MultiKrum, hostileSites: 0, selectedUpdates: 3}' },
  { label: 'normBound C = 1', strategy: 'name: FedAvg\nrobust: {normBound: 1}' },
  { label: 'FedAvg, FP16 both ways', strategy: 'name: FedAvg', spec: 'compression: {download: FP16, upload: FP16}' },
  { label: 'FedAvg, Int8 both ways', strategy: 'name: FedAvg', spec: 'compression: {download: Int8, upload: Int8}' },
  { label: 'FedAvg, Int8 down, top-k 0.1 up', strategy: 'name: FedAvg', spec: 'compression: {download: Int8, upload: TopK, topKFraction: 0.1}' },
  // Asynchronous: rounds count versions, each made of bufferSize updates (docs/async.md); minSites is the example's 3.
  { label: 'FedBuff K = 3', strategy: 'name: FedAvg', spec: 'asynchronous: {bufferSize: 3}' },
  { label: 'FedBuff K = 4', strategy: 'name: FedAvg', spec: 'asynchronous: {bufferSize: 4}' },
];

/** The example with this setting's strategy block (and more spec, if it has some). */
function manifestOf(example: string, s: Setting): string {
  const start = example.indexOf('  strategy:\n');
  const end = example.indexOf('  trainer:\n');
  if (start < 0 || end < start) throw new Error('the example has no strategy block before its trainer');
  const body = s.strategy.split('\n').map((line) => `    ${line}\n`).join('');
  const more = s.spec ? s.spec.split('\n').map((line) => `  ${line}\n`).join('') : '';
  return example.slice(0, start) + '  strategy:\n' + body + more + example.slice(end);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const only = values.only?.split(',');
  const text = await readFile(example, 'utf8');
  const rows: string[] = [];
  for (const s of settings.filter((x) => !only || only.includes(x.label))) {
    const { summary, seconds } = await simulateOnce(manifestOf(text, s), example);
    if (summary.status !== 'Succeeded') throw new Error(`${s.label}: the job ended ${summary.status}: ${summary.reason}`);
    const accuracies = summary.sites.map((x) => x.testAccuracy).filter((a): a is number => a !== null);
    const worst = accuracies.length ? Math.min(...accuracies).toFixed(3) : '-';
    // The aggregator's count of the chunk bytes of training rounds, as they crossed the wire (encoded, under compression).
    const { uploadBytes, downloadBytes, factor } = summary.traffic;
    const row = `| ${s.label} | ${summary.rounds.length} | ${summary.meanTestAccuracy?.toFixed(3) ?? '-'} | ${worst} | ${kib(uploadBytes)} | ${kib(downloadBytes)} | ${factor?.toFixed(2) ?? '-'} | ${seconds.toFixed(1)} s |`;
    process.stdout.write(row + '\n');
    rows.push(row);
  }
  if (only) return;
  await writeTable(docs, 'strategies', [
    '| strategy | rounds | mean per-site test accuracy | worst site | update bytes sent | model bytes received | times fewer bytes than float32 | time (simulate) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ]);
}

await main();
