import { describe, expect, it } from '@jest/globals';
import { epsilonFor } from '../privacy/accountant.js';
import { privacyPlan } from '../privacy/job-plan.js';
import { RoundPrivacy } from './round-privacy.js';
import { RoundState } from './round-state.js';

const plan = privacyPlan({ mode: 'Central', delta: 1e-3, noiseMultiplier: 1, targetEpsilon: 8, clipping: { l2Norm: 1 }, sampling: { mode: 'Fixed' } }, 4, undefined, 20);

describe('the privacy budget', () => {
  it('ends training before the round that would exceed it, and says why', () => {
    const privacy = new RoundPrivacy(plan, []);
    const sites = ['a', 'b'];
    const rules = {
      sites,
      rounds: 20,
      minSites: 2,
      deadlineMs: 60_000,
      heartbeatTimeoutMs: 30_000,
      maxRoundRetries: 0,
      statistics: false,
      select: () => sites,
      stopBefore: (round: number) => privacy.stopBefore(round),
    };
    const state = new RoundState(rules, { phase: 'TRAIN', round: 1 }, 0);
    const epsilons: number[] = [];
    for (let round = 1; state.position.phase === 'TRAIN'; round++) {
      for (const site of sites) {
        state.admit(site, 'TRAIN', round, 0, 1);
        state.accept(site, 1);
      }
      expect(state.tick(2)?.kind).toBe('close');
      epsilons.push(privacy.closeRound().epsilon);
      state.advance(3);
    }
    // ε after r rounds of σ = 1, q = 1, δ = 1e-3: 3.54, 5.42, 7.00, then 8.42 > 8.
    expect(epsilons).toEqual([1, 2, 3].map((r) => epsilonFor(1, 1, r, 1e-3).epsilon));
    expect(state.position).toMatchObject({ phase: 'EVALUATE', round: 3 });
    for (const site of sites) {
      state.admit(site, 'EVALUATE', 3, 0, 4);
      state.accept(site, 4);
    }
    expect(state.tick(5)?.kind).toBe('close');
    state.advance(6);
    expect(state.result).toEqual({
      succeeded: true,
      message: expect.stringMatching(/^trained 3 of 20 rounds and evaluated the final model: the privacy budget stops training before round 4: it would take ε from 6\.999 to 8\.416, over the target 8/),
    });
  });

  it('is restored from the rounds a restarted aggregator finds in its checkpoint', () => {
    const record = { privacy: { epsilon: 0, delta: 1e-3, clipNorm: 1, nextClipNorm: 0.7, noiseStddev: 1, clipped: 0 } };
    const restored = new RoundPrivacy(plan, [record, record]);
    expect(restored.epsilon()).toBe(epsilonFor(1, 1, 2, 1e-3).epsilon);
    expect(restored.clip()!.clipNorm).toBe(0.7);
  });

  it('derives the noise multiplier from the target when the job gives none, so that every round fits', () => {
    const derived = privacyPlan({ mode: 'Central', delta: 1e-5, targetEpsilon: 3, clipping: { l2Norm: 1 }, sampling: { mode: 'Poisson', rate: 0.2 } }, 50, undefined, 100);
    expect(derived.perRound.q).toBe(0.2);
    expect(derived.expectedSites).toBe(10);
    expect(epsilonFor(0.2, derived.noiseMultiplier, 100, 1e-5).epsilon).toBeLessThanOrEqual(3);
    const privacy = new RoundPrivacy(derived, []);
    for (let r = 1; r <= 100; r++) {
      expect(privacy.stopBefore(r)).toBeNull();
      privacy.closeRound();
    }
  });
});

describe('adaptive clipping at the aggregator', () => {
  const adaptive = privacyPlan(
    { mode: 'Central', delta: 1e-3, noiseMultiplier: 1, clipping: { l2Norm: 1, adaptive: { targetQuantile: 0.5, learningRate: 0.2, countStddev: 1 } }, sampling: { mode: 'Fixed' } },
    4,
    undefined,
    100,
  );

  it('gives the updates what the noised count leaves of the multiplier', () => {
    // z⁻² = z_Δ⁻² + (2σ_b)⁻²: 1 = z_Δ⁻² + 1/4.
    expect(adaptive.updateNoiseMultiplier).toBeCloseTo(1 / Math.sqrt(0.75), 12);
    const privacy = new RoundPrivacy(adaptive, []);
    expect(privacy.closeRound().noiseStddev).toBeCloseTo(1 / Math.sqrt(0.75), 12);
  });

  it('shrinks the clip norm while every update is under it, and grows it while every update is over', () => {
    const privacy = new RoundPrivacy(adaptive, []);
    for (let round = 0; round < 50; round++) {
      const clip = privacy.clip()!;
      for (let site = 0; site < 4; site++) clip.onNorm(clip.clipNorm / 10);
      privacy.closeRound();
    }
    // Each round moves log C by −η·(b̃ − γ) = −0.1 on average (noise: 0.05 per round).
    const shrunk = privacy.clip()!.clipNorm;
    expect(shrunk).toBeLessThan(Math.exp(-3));
    for (let round = 0; round < 50; round++) {
      const clip = privacy.clip()!;
      for (let site = 0; site < 4; site++) clip.onNorm(clip.clipNorm * 10);
      expect(privacy.closeRound().clipped).toBe(4);
    }
    expect(privacy.clip()!.clipNorm).toBeGreaterThan(shrunk * Math.exp(3));
  });
});

describe('a Poisson round', () => {
  it('closes at once when no site was drawn, and is never redrawn for a quorum', () => {
    let draws = 0;
    const rules = {
      sites: ['a', 'b'],
      rounds: 2,
      minSites: 2,
      deadlineMs: 60_000,
      heartbeatTimeoutMs: 30_000,
      maxRoundRetries: 3,
      statistics: false,
      select: () => (draws++, []),
      trainQuorum: 0,
    };
    const state = new RoundState(rules, { phase: 'TRAIN', round: 1 }, 0);
    expect(state.tick(1)).toMatchObject({ kind: 'close', round: 1, participants: [] });
    expect(draws).toBe(1);
  });

  it('moves the model by noise alone when nobody came, with the fixed denominator', () => {
    const poisson = privacyPlan({ mode: 'Central', delta: 1e-3, noiseMultiplier: 2, clipping: { l2Norm: 0.5 }, sampling: { mode: 'Poisson', rate: 0.5 } }, 8, undefined, 10);
    const privacy = new RoundPrivacy(poisson, []);
    const n = 100_000;
    const global = [{ name: 'w', shape: [n], data: new Float32Array(n) }];
    let denominator = 0;
    const inner = { name: 'FedAvg' as const, proximalMu: 0, state: () => [], restore: () => {}, step: (_g: unknown, _s: Float64Array[], d: number) => void (denominator = d) };
    const sums = [new Float64Array(n)];
    privacy.strategy(inner).step(global, sums, 0, 0);
    expect(denominator).toBe(4); // q·N, not the 0 that came
    const sd = Math.sqrt(sums[0]!.reduce((a, x) => a + x * x, 0) / n);
    expect(sd).toBeGreaterThan(0.99 * 2 * 0.5);
    expect(sd).toBeLessThan(1.01 * 2 * 0.5);
  });
});
