import type { Model } from '../federation/model.js';
import { createStrategy } from './strategies.js';
import type { Strategy } from './strategy.js';
import { RunningSum } from './running-sum.js';

const model = (...values: number[][]): Model => values.map((v, i) => ({ name: `t${i}`, shape: [v.length], data: new Float32Array(v) }));
const values = (m: Model) => m.map((t) => [...t.data]);

/** One round: fold whole updates into a running sum, as the aggregator does, then step. */
function round(strategy: Strategy, global: Model, updates: { n: number; w: Model }[]): void {
  const sum = new RunningSum(global, updates.length);
  for (const { n, w } of updates) {
    w.forEach((t, k) => sum.fold(k, 0, t.data, n));
    sum.totalWeight += n;
  }
  strategy.step(global, sum.weightedDeltaSums(), sum.totalWeight, updates.length);
}

describe('FedAvg and FedProx', () => {
  it('average the updates weighted by sample count', () => {
    // Δ = (1·(3−1) + 3·(1−1)) / 4 = 0.5 and (1·(2−2) + 3·(6−2)) / 4 = 3; second tensor: (1·4 + 3·0) / 4 = 1.
    for (const name of ['FedAvg', 'FedProx'] as const) {
      const global = model([1, 2], [-1]);
      round(createStrategy({ name }, 3), global, [
        { n: 1, w: model([3, 2], [3]) },
        { n: 3, w: model([1, 6], [-1]) },
      ]);
      expect(values(global)).toEqual([[1.5, 5], [0]]);
    }
  });

  it('hand the sites their proximal weight', () => {
    expect(createStrategy({ name: 'FedProx', fedProx: { mu: 0.5 } }, 3).proximalMu).toBe(0.5);
    expect(createStrategy({ name: 'FedProx' }, 3).proximalMu).toBe(0.01);
    expect(createStrategy({ name: 'FedAvg' }, 3).proximalMu).toBe(0);
  });
});

describe('server optimisers (Reddi et al. 2021)', () => {
  const fedOpt = { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 };
  // Two rounds with Δ = 2 then Δ = −1 (sites at +2 then −1 from the global model, equal weights).
  // Round 1, all three: m = 0.1·2 = 0.2. Round 2: m = 0.9·0.2 + 0.1·(−1) = 0.08.
  // Adam:    v1 = 0.01·4 = 0.04;             v2 = 0.99·0.04 + 0.01·1 = 0.0496
  // Yogi:    v1 = 0 − 0.01·4·sign(0 − 4) = 0.04; v2 = 0.04 − 0.01·1·sign(0.04 − 1) = 0.05
  // Adagrad: v1 = 4;                          v2 = 5
  // w1 = 0.1·0.2/(√v1 + 0.001); w2 = w1 + 0.1·0.08/(√v2 + 0.001)
  const expected = {
    FedAdam: [0.02 / 0.201, 0.02 / 0.201 + 0.008 / (Math.sqrt(0.0496) + 0.001)],
    FedYogi: [0.02 / 0.201, 0.02 / 0.201 + 0.008 / (Math.sqrt(0.05) + 0.001)],
    FedAdagrad: [0.02 / 2.001, 0.02 / 2.001 + 0.008 / (Math.sqrt(5) + 0.001)],
  };

  for (const [name, [w1, w2]] of Object.entries(expected) as [keyof typeof expected, number[]][]) {
    it(`${name} follows its update rule, and resumes from its checkpointed state`, () => {
      const strategy = createStrategy({ name, fedOpt }, 3);
      const global = model([0], [10]);
      const at = (g: Model, d: number) => model([g[0]!.data[0]! + d], [g[1]!.data[0]! + d]);
      round(strategy, global, [
        { n: 2, w: at(global, 2) },
        { n: 2, w: at(global, 2) },
      ]);
      expect(global[0]!.data[0]).toBeCloseTo(w1!, 6);
      expect(global[1]!.data[0]).toBeCloseTo(10 + w1!, 5);

      // A restarted aggregator restores m and v from the checkpoint and carries on.
      const resumed = createStrategy({ name, fedOpt }, 3);
      resumed.restore(strategy.state().reverse());
      round(resumed, global, [{ n: 5, w: at(global, -1) }]);
      expect(global[0]!.data[0]).toBeCloseTo(w2!, 6);
      expect(global[1]!.data[0]).toBeCloseTo(10 + w2!, 5);
    });
  }
});

describe('SCAFFOLD (Karimireddy et al. 2020)', () => {
  // The model x and, after it, the server's control variate c, as the aggregator holds them.
  const held = (x: number[], c: number[]): Model => [
    { name: 'w', shape: [x.length], data: new Float32Array(x) },
    { name: 'scaffold.c/w', shape: [c.length], data: new Float32Array(c) },
  ];

  it('moves x by η_g·Δx and c by (|S|/N)·Δc', () => {
    // Two of four sites, weights 1 and 3: Δx = (1·2 + 3·(−2))/4 = −1; Δc = (1·4 + 3·0)/4 = 1.
    const global = held([10], [0.5]);
    round(createStrategy({ name: 'SCAFFOLD', scaffold: { serverLearningRate: 0.5 } }, 4), global, [
      { n: 1, w: held([12], [4.5]) },
      { n: 3, w: held([8], [0.5]) },
    ]);
    expect(values(global)).toEqual([[10 - 0.5], [0.5 + (2 / 4) * 1]]);
  });

  it('takes the whole mean step by default and keeps no state beside the model', () => {
    const strategy = createStrategy({ name: 'SCAFFOLD' }, 2);
    const global = held([0, 0], [0, 0]);
    round(strategy, global, [
      { n: 1, w: held([1, -1], [2, 2]) },
      { n: 1, w: held([3, 1], [0, 2]) },
    ]);
    expect(values(global)).toEqual([[2, 0], [1, 2]]);
    expect(strategy.state()).toEqual([]);
    expect(strategy.proximalMu).toBe(0);
  });
});
