/**
 * spec.personalization through `flotilla simulate`: after the last round each site fine-tunes the
 * final global model on its own training data and reports both figures. On strongly non-IID sites
 * (test/support/non-iid.ts) one global model serves the minority-class hospitals badly; fine-tuned,
 * each does better on its own test records, and summary.json says so per site.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import type { Summary } from '../../operator/simulate/outputs.js';
import { NON_IID_TRAINER, writeNonIidSites } from '../support/non-iid.js';

const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
/** A simulate run that takes longer is stopped (SIGINT: it stops its processes), so nothing outlives the test. */
const SIMULATE_MS = 240_000;

describe('personalisation', () => {
  let dir: string;
  let sites: string[];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-personal-'));
    await mkdir(path.join(dir, 'data'));
    sites = await writeNonIidSites(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function simulate(name: string, spec: Record<string, unknown>): Promise<{ summary: Summary; stderr: string }> {
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
    const child = spawn(process.execPath, [cli, 'simulate', file, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'], timeout: SIMULATE_MS, killSignal: 'SIGINT' });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`simulate exited ${code}: ${stderr}`);
    return { summary: JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary, stderr };
  }

  it('reports the global and the fine-tuned figures of every site, and the fine-tuned ones fit each site better', async () => {
    const { summary, stderr } = await simulate('personal', { personalization: { localEpochs: 5 } });
    expect(summary.status).toBe('Succeeded');
    expect(summary.sites.map((s) => s.site).sort()).toEqual([...sites].sort());
    for (const s of summary.sites) {
      expect(typeof s.testAccuracy).toBe('number');
      expect(typeof s.fineTunedTestAccuracy).toBe('number');
      expect(typeof s.fineTunedTestLoss).toBe('number');
      // Fine-tuning moved the model: its loss is not the global model's.
      expect(Math.abs(s.fineTunedTestLoss! - s.testLoss!)).toBeGreaterThan(1e-4);
    }
    // Each site's own fit: at least as good on its own test records in loss, and better on average in accuracy.
    const meanLoss = (pick: (s: Summary['sites'][number]) => number) => summary.sites.reduce((a, s) => a + pick(s), 0) / summary.sites.length;
    expect(meanLoss((s) => s.fineTunedTestLoss!)).toBeLessThan(meanLoss((s) => s.testLoss!) - 0.05);
    expect(summary.meanFineTunedTestAccuracy!).toBeGreaterThan(summary.meanTestAccuracy! + 0.03);
    // What left each site is in its audit trail: the fine-tuned figures too.
    for (const s of summary.sites) {
      const trail = (await readFile(path.join(dir, 'personal-out', 'audit', `site-${s.site}.jsonl`), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      const evaluation = trail.find((e) => e.event === 'update-leaving' && e.kind === 'EVALUATE');
      expect(evaluation['evalExtra:fineTuned.accuracy']).toBe(s.fineTunedTestAccuracy);
      expect(evaluation['evalExtra:fineTuned.loss']).toBe(s.fineTunedTestLoss);
    }
    // The headline says it too.
    expect(stderr).toMatch(/fine-tuned at each site 0\.\d{3}/);
  }, 300_000);
});
