import type { Model, Tensor } from '../federation/model.js';
import type { Strategy } from './strategy.js';

export type ServerOptimizerKind = 'FedAdam' | 'FedYogi' | 'FedAdagrad';

export interface ServerOptimizerSettings {
  serverLearningRate: number;
  beta1: number;
  beta2: number;
  tau: number;
}

/**
 * FedAdam, FedYogi and FedAdagrad (Reddi et al. 2021, "Adaptive Federated Optimization", Alg. 2),
 * treating the weighted mean delta Δ as a pseudo-gradient:
 *   m ← β1·m + (1−β1)·Δ
 *   v ← β2·v + (1−β2)·Δ²                 (Adam)
 *   v ← v − (1−β2)·Δ²·sign(v − Δ²)       (Yogi)
 *   v ← v + Δ²                           (Adagrad)
 *   w ← w + η·m / (√v + τ)
 * m and v start at zero (as Flower does), without bias correction (as in the paper), and are updated
 * in place over float32 arrays; they are part of the checkpoint.
 */
export class ServerOptimizer implements Strategy {
  readonly proximalMu = 0;
  private m: Float32Array[] = [];
  private v: Float32Array[] = [];

  constructor(
    readonly name: ServerOptimizerKind,
    private readonly settings: ServerOptimizerSettings,
  ) {}

  step(global: Model, sums: Float64Array[], totalWeight: number): void {
    if (this.m.length !== global.length) {
      this.m = global.map((t) => new Float32Array(t.data.length));
      this.v = global.map((t) => new Float32Array(t.data.length));
    }
    const { serverLearningRate: eta, beta1, beta2, tau } = this.settings;
    global.forEach((t, k) => {
      const w = t.data;
      const sum = sums[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < w.length; i++) {
        const delta = sum[i]! / totalWeight;
        const square = delta * delta;
        m[i] = beta1 * m[i]! + (1 - beta1) * delta;
        const vi = v[i]!;
        if (this.name === 'FedAdam') v[i] = beta2 * vi + (1 - beta2) * square;
        else if (this.name === 'FedYogi') v[i] = vi - (1 - beta2) * square * Math.sign(vi - square);
        else v[i] = vi + square;
        w[i]! += (eta * m[i]!) / (Math.sqrt(v[i]!) + tau);
      }
    });
  }

  state(): Tensor[] {
    const named = (prefix: string, arrays: Float32Array[]): Tensor[] =>
      arrays.map((data, k) => ({ name: `${prefix}${k}`, shape: [data.length], data }));
    return [...named('m/', this.m), ...named('v/', this.v)];
  }

  restore(tensors: readonly Tensor[]): void {
    // By index in the name: a checkpoint file need not keep the tensors in order.
    const pick = (prefix: string): Float32Array[] => {
      const arrays: Float32Array[] = [];
      for (const t of tensors) if (t.name.startsWith(prefix)) arrays[Number(t.name.slice(prefix.length))] = t.data;
      return arrays;
    };
    this.m = pick('m/');
    this.v = pick('v/');
  }
}
