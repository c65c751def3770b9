import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import type { Summary } from '../../operator/simulate/outputs.js';
import { Seeded } from './attacks.js';

/**
 * A synthetic, strongly non-IID split of one binary task over four hospitals: each site sees mostly
 * one class (label skew: 95 %, 6 %, 90 %, 10 % positives) and its features shifted and scaled its
 * own way (covariate shift), x | y ~ (±1 + 1.5·N(0, 1) + shift)·scale. One logistic regression fits
 * the pooled data well (about 0.87 accuracy); local training pulls each site's model towards its own
 * optimum, which is where FedAvg with several local epochs drifts.
 */
export const NON_IID_SITES = [
  { site: 'north', positives: 0.95, shift: [0, 0], scale: 3, records: 400 },
  { site: 'south', positives: 0.05, shift: [0, 0], scale: 0.5, records: 134 },
  { site: 'east', positives: 0.9, shift: [2, 2], scale: 1, records: 267 },
  { site: 'west', positives: 0.1, shift: [-2, 2], scale: 1, records: 267 },
] as const;

/** Writes data/<site>.csv under dir (columns: label, x1, x2); returns the sites' names. */
export async function writeNonIidSites(dir: string, seed = 7): Promise<string[]> {
  const random = new Seeded(seed);
  for (const s of NON_IID_SITES) {
    const lines: string[] = [];
    for (let r = 0; r < s.records; r++) {
      const label = random.uniform() < s.positives ? 1 : 0;
      const mean = label ? 1 : -1;
      const x = s.shift.map((shift) => ((mean + 1.5 * random.gaussian() + shift) * s.scale).toFixed(5));
      lines.push([label, ...x].join(','));
    }
    await writeFile(path.join(dir, 'data', `${s.site}.csv`), lines.join('\n') + '\n');
  }
  return NON_IID_SITES.map((s) => s.site);
}

/** The built-in trainer's part of a job on those files. */
export const NON_IID_TRAINER = {
  localEpochs: 5,
  batchSize: 16,
  learningRate: 0.5,
  builtin: {
    model: 'LogisticRegression',
    dataset: {
      label: { column: 0 },
      features: [
        { name: 'x1', column: 1 },
        { name: 'x2', column: 2 },
      ],
      testFraction: 0.25,
      standardize: 'None',
    },
  },
};

/** A simulate run that takes longer is stopped (SIGINT: it stops its processes), so nothing outlives the test. */
const SIMULATE_MS = 240_000;

/**
 * `flotilla simulate` of a job over the non-IID sites written in `dir` (3 rounds, all four sites,
 * the non-IID trainer; `spec` adds to or overrides that): its summary, its stderr and its output folder.
 */
export async function simulateNonIid(dir: string, sites: string[], name: string, spec: Record<string, unknown>): Promise<{ summary: Summary; stderr: string; out: string }> {
  const job = {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'non-iid' },
    spec: {
      sites: { names: sites, overrides: sites.map((site) => ({ site, data: { path: `data/${site}.csv` } })) },
      rounds: 3,
      minSites: 4,
      roundDeadlineSeconds: 120,
      heartbeatTimeoutSeconds: 60,
      seed: 11,
      trainer: NON_IID_TRAINER,
      ...spec,
    },
  };
  const file = path.join(dir, `${name}.yaml`);
  await writeFile(file, YAML.stringify(job));
  const out = path.join(dir, `${name}-out`);
  const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
  const child = spawn(process.execPath, [cli, 'simulate', file, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'], timeout: SIMULATE_MS, killSignal: 'SIGINT' });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`simulate exited ${code}: ${stderr}`);
  return { summary: JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary, stderr, out };
}
