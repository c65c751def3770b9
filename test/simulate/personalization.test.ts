/**
 * spec.personalization through `flotilla simulate`: after the last round each site fine-tunes the
 * final global model on its own training data and reports both figures. On strongly non-IID sites
 * (test/support/non-iid.ts) one global model serves the minority-class hospitals badly; fine-tuned,
 * each does better on its own test records, and summary.json says so per site.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Summary } from '../../operator/simulate/outputs.js';
import { simulateNonIid, writeNonIidSites } from '../support/non-iid.js';


describe('personalisation', () => {
  let dir: string;
  let sites: string[];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-personal-'));
    await mkdir(path.join(dir, 'data'));
    sites = await writeNonIidSites(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const simulate = (name: string, spec: Record<string, unknown>) => simulateNonIid(dir, sites, name, spec);

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
