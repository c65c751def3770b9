/**
 * `flotilla simulate` of the heart-disease job under secure aggregation: real processes, mTLS on
 * loopback, the real records of four hospitals, each client running the SecAgg+ site round. The
 * model a securely aggregated round makes is the one the same job makes in the clear, within the
 * quantization error; a site killed between two stages of a round is recovered from.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { readSafetensors } from '../../operator/federation/safetensors.js';
import { quantizationBound } from '../../operator/secagg/quantize.js';
import { epsilonFor } from '../../operator/privacy/accountant.js';
import { simulate } from '../../operator/simulate/simulate.js';
import type { Summary } from '../../operator/simulate/outputs.js';

const exampleDir = path.join(packageRoot, 'examples/heart-disease');
const example = path.join(exampleDir, 'federatedjob-secagg.yaml');

describe('flotilla simulate with secure aggregation', () => {
  const cleanup: string[] = [];
  afterAll(() => Promise.all(cleanup.map((o) => rm(o, { recursive: true, force: true }))));

  /** The example with edits, beside it (its data paths are relative to its folder). */
  async function variant(name: string, edit: (yaml: string) => string): Promise<string> {
    const file = path.join(exampleDir, `.test-secagg-${name}-${process.pid}.yaml`);
    cleanup.push(file);
    await writeFile(file, edit(await readFile(example, 'utf8')));
    return file;
  }

  async function run(manifest: string, siteEnv?: Record<string, NodeJS.ProcessEnv>): Promise<{ summary: Summary; model: Float32Array[]; out: string }> {
    const out = await mkdtemp(path.join(os.tmpdir(), 'flotilla-secagg-test-'));
    cleanup.push(out);
    const result = await simulate({ manifest, outDir: out, ...(siteEnv ? { siteEnv } : {}) });
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary;
    if (!result.succeeded) throw new Error(`simulate failed: ${summary.reason}`);
    const model = (await readSafetensors(path.join(out, 'model.safetensors'))).model.map((t) => t.data as Float32Array);
    return { summary, model, out };
  }

  it('makes the model the same job makes in the clear (each update weighing 1), within the quantization error', async () => {
    const oneRound = (y: string) => y.replace('rounds: 10', 'rounds: 1');
    const secure = await run(await variant('one-round', oneRound));
    // In the clear, with every update weighing 1 as under secure aggregation: a trimmed mean that trims nothing is the plain mean.
    const plainManifest = await variant('plain', (y) =>
      oneRound(y)
        .replace(/ {2}secureAggregation:\n( {4}.*\n)+/, '')
        .replace('    name: FedAvg\n', '    name: FedAvg\n    robust: {rule: TrimmedMean, trimFraction: 0}\n'),
    );
    const plain = await run(plainManifest);
    expect(plain.summary.secureAggregation).toBeUndefined();
    expect(secure.summary.secureAggregation).toEqual({ threshold: 2, neighbours: null, clippingRange: 10, stageTimeoutSeconds: 10 });
    const [round] = secure.summary.rounds;
    expect(round!.secureAggregation).toMatchObject({ threshold: 2, neighbours: 3, sites: ['cleveland', 'hungarian', 'switzerland', 'va'], dropped: {} });
    expect(Object.keys(round!.secureAggregation!.stageSeconds).sort()).toEqual(['advertise', 'collect', 'share', 'unmask']);
    // Four sites, clipping range 10: the mean is within 1/(2s) of the plain one, s = (2^31 - 4)/(4·10); then float32 rounds both.
    const bound = quantizationBound(10, 4, 4) / 4;
    expect(bound).toBeLessThan(1e-8);
    let furthest = 0;
    let moved = 0;
    secure.model.forEach((tensor, k) =>
      tensor.forEach((v, i) => {
        const p = plain.model[k]![i]!;
        furthest = Math.max(furthest, Math.abs(v - p) - 2 ** -23 * Math.max(1, Math.abs(p)));
        moved = Math.max(moved, Math.abs(p));
      }),
    );
    expect(furthest).toBeLessThanOrEqual(bound);
    // A model that moved: not two copies of the initial zeros.
    expect(moved).toBeGreaterThan(0.01);
  }, 300_000);

  it('recovers from a site killed between the share and collect stages of a round, and goes on without it', async () => {
    // The example's 10 s stage timeout: on a loaded machine a client takes seconds to start, and one
    // that joins after an attempt's advertise stage closed is left out of that round.
    const manifest = await variant('kill', (y) =>
      y.replace('rounds: 10', 'rounds: 3').replace('heartbeatTimeoutSeconds: 20', 'heartbeatTimeoutSeconds: 6'),
    );
    // Hungarian's client kills itself once its round-2 shares are with its neighbours, before it sends its masked update.
    const { summary } = await run(manifest, { hungarian: { FLOTILLA_FAULT_POINT: 'secagg shares sent@2', FLOTILLA_FAULT_ACTION: 'kill' } });
    expect(summary.status).toBe('Succeeded');
    expect(summary.rounds.map((r) => r.participants)).toEqual([
      ['cleveland', 'hungarian', 'switzerland', 'va'],
      ['cleveland', 'switzerland', 'va'],
      ['cleveland', 'switzerland', 'va'],
    ]);
    expect(summary.rounds[1]!.secureAggregation!.dropped).toEqual({ hungarian: 'collect' });
    // Round 3 goes on with the three that are left: hungarian never advertises again.
    expect(summary.rounds[2]!.secureAggregation!.dropped).toEqual({ hungarian: 'advertise' });
    expect(summary.meanTestAccuracy).toBeGreaterThan(0.6);
  }, 300_000);
});

describe('flotilla simulate with distributed DP under secure aggregation', () => {
  const cleanup: string[] = [];
  afterAll(() => Promise.all(cleanup.map((o) => rm(o, { recursive: true, force: true }))));

  async function runVariant(name: string, privacy: string): Promise<{ summary: Summary; flat: number[] }> {
    const file = path.join(exampleDir, `.test-secagg-dp-${name}-${process.pid}.yaml`);
    cleanup.push(file);
    // An MLP, for a model of some 900 parameters to measure the noise on; one round; clip and range wide enough that nothing is clipped.
    const yaml = (await readFile(example, 'utf8'))
      .replace('rounds: 10', 'rounds: 1')
      .replace('clippingRange: 10', 'clippingRange: 1000')
      .replace('model: LogisticRegression', 'model: MLP\n      hiddenUnits: [64]')
      .replace('  secureAggregation:\n', `${privacy}  secureAggregation:\n`);
    await writeFile(file, yaml);
    const out = await mkdtemp(path.join(os.tmpdir(), 'flotilla-secagg-dp-test-'));
    cleanup.push(out);
    const result = await simulate({ manifest: file, outDir: out });
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Summary;
    if (!result.succeeded) throw new Error(`simulate failed: ${summary.reason}`);
    const model = (await readSafetensors(path.join(out, 'model.safetensors'))).model;
    return { summary, flat: model.flatMap((t) => [...t.data]) };
  }

  it('each site adds z·C/sqrt(t) of noise, so the revealed sum carries m/t times the central variance (z·C)², and ε is the central one', async () => {
    const z = 1;
    const C = 100;
    const noised = await runVariant('noised', `  privacy:\n    mode: Distributed\n    noiseMultiplier: ${z}\n    delta: 0.001\n    clipping: {l2Norm: ${C}}\n`);
    const clear = await runVariant('clear', '');
    expect(noised.summary.privacy).toMatchObject({ mode: 'Distributed', noiseMultiplier: 1, delta: 0.001 });
    expect(noised.summary.privacy!.epsilon).toBeCloseTo(epsilonFor(1, z, 1, 1e-3).epsilon, 12);
    expect(clear.summary.privacy).toBeUndefined();
    // Same seed, same training: the models differ by the mean of the four sites' noise. Times 4, that is the noise in the sum.
    const m = 4;
    const t = 2;
    const sums = noised.flat.map((v, i) => (v - clear.flat[i]!) * m);
    expect(sums.length).toBeGreaterThan(800);
    const variance = sums.reduce((s, x) => s + x * x, 0) / sums.length;
    const expected = (m / t) * (z * C) ** 2;
    // About 900 coordinates: the variance's estimate is within 4.7% (one standard deviation) of the truth.
    expect(variance / expected).toBeGreaterThan(0.8);
    expect(variance / expected).toBeLessThan(1.2);
  }, 300_000);
});
