import { afterAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../operator/api/crds.js';
import { epsilonFor } from '../../operator/privacy/accountant.js';
import type { Summary } from '../../operator/simulate/outputs.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/operator/cli/main.js');
const exampleDir = path.join(packageRoot, 'examples/heart-disease');
const example = path.join(exampleDir, 'federatedjob-dp.yaml');

/**
 * `flotilla simulate` of the heart-disease job under differential privacy: the built CLI, real
 * processes, mTLS on loopback, the real records of four hospitals.
 */
describe('flotilla simulate with differential privacy', () => {
  const cleanup: string[] = [];
  afterAll(() => Promise.all(cleanup.map((o) => rm(o, { recursive: true, force: true }))));

  async function simulate(manifest: string): Promise<{ stderr: string; summary: Summary; out: string }> {
    const out = await mkdtemp(path.join(os.tmpdir(), 'flotilla-dp-test-'));
    cleanup.push(out);
    const { stderr } = await run(process.execPath, [cli, 'simulate', manifest, '--out', out], { timeout: 240_000 });
    return { stderr, out, summary: JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) };
  }

  /** The example with edits to its privacy block, beside it (its data paths are relative to its folder). */
  async function variant(name: string, edit: (yaml: string) => string): Promise<string> {
    const file = path.join(exampleDir, `.test-${name}-${process.pid}.yaml`);
    cleanup.push(file);
    await writeFile(file, edit(await readFile(example, 'utf8')));
    return file;
  }

  it('central: clips every update at the aggregator, reports the accountant’s epsilon each round, and still learns', async () => {
    const { stderr, summary } = await simulate(example);
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds).toHaveLength(10);
    // ε after every round is the accountant's for σ = 1, q = 1 (Fixed sampling claims no amplification), δ = 1e-3.
    summary.rounds.forEach((r, i) => {
      expect(r.privacy!.epsilon).toBeCloseTo(epsilonFor(1, 1, i + 1, 1e-3).epsilon, 12);
      expect(r.privacy!.noiseStddev).toBe(0.3);
    });
    expect(summary.privacy).toMatchObject({ mode: 'Central', delta: 1e-3, budget: 16, noiseMultiplier: 1 });
    expect(summary.privacy!.epsilon).toBeCloseTo(epsilonFor(1, 1, 10, 1e-3).epsilon, 12);
    expect(stderr).toContain(`ε = ${summary.privacy!.epsilon.toFixed(3)} at δ = 0.001`);
    // Clipping: the updates' norms as they came, over C = 0.3 for the large sites, each counted as clipped.
    for (const r of summary.rounds) {
      const norms = Object.values(r.updateNorms!);
      expect(norms).toHaveLength(4);
      expect(r.privacy!.clipped).toBe(norms.filter((x) => x > 0.3).length);
    }
    expect(summary.rounds.reduce((n, r) => n + r.privacy!.clipped!, 0)).toBeGreaterThan(0);
    // Accuracy at ε ≈ 15.5: over the published FedAvg figure without privacy (0.685), below the non-private run (0.80).
    expect(summary.meanTestAccuracy).toBeGreaterThan(0.68);
  }, 300_000);

  it('stops before the round that would exceed the budget, evaluates what it has, and says why', async () => {
    const { summary } = await simulate(await variant('budget', (y) => y.replace('targetEpsilon: 16', 'targetEpsilon: 8')));
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds).toHaveLength(3);
    expect(summary.reason).toMatch(/^trained 3 of 10 rounds and evaluated the final model: the privacy budget stops training before round 4: it would take ε from 6\.999 to 8\.416, over the target 8/);
    expect(summary.privacy!.epsilon).toBeLessThanOrEqual(8);
    expect(summary.sites).toHaveLength(4);
  }, 300_000);

  it('local: each site clips and noises its update before it leaves, accounted for with sensitivity 2C', async () => {
    const { summary, out } = await simulate(await variant('local', (y) => y.replace('mode: Central', 'mode: Local').replace('rounds: 10', 'rounds: 3').replace('targetEpsilon: 16', 'targetEpsilon: 100')));
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds).toHaveLength(3);
    expect(summary.privacy!.epsilon).toBeCloseTo(epsilonFor(1, 0.5, 3, 1e-3).epsilon, 12);
    expect(summary.rounds.every((r) => r.updateNorms === undefined && r.privacy!.noiseStddev === null)).toBe(true);
    const log = await readFile(path.join(out, 'logs', 'site-cleveland.log'), 'utf8');
    const noised = log.split('\n').filter((l) => l.includes('update clipped and noised before it leaves'));
    expect(noised).toHaveLength(3);
    expect(JSON.parse(noised[0]!)).toMatchObject({ clipNorm: 0.3, noiseMultiplier: 1 });
  }, 300_000);

  it('Poisson: draws each site with its rate, closes rounds with whoever was drawn, and claims the amplification', async () => {
    const manifest = await variant('poisson', (y) => y.replace('  privacy:\n', '  privacy:\n    sampling: {mode: Poisson, rate: 0.5}\n').replace('rounds: 10', 'rounds: 6'));
    const { summary } = await simulate(manifest);
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds).toHaveLength(6);
    expect(summary.privacy!.epsilon).toBeCloseTo(epsilonFor(0.5, 1, 6, 1e-3).epsilon, 12);
    expect(summary.privacy!.epsilon).toBeLessThan(epsilonFor(1, 1, 6, 1e-3).epsilon);
    // Who took part varies (2⁻²⁴ odds that all 6 rounds drew the same set).
    expect(new Set(summary.rounds.map((r) => r.participants.join(','))).size).toBeGreaterThan(1);
  }, 300_000);
});
