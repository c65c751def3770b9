import type { Model } from '../federation/model.js';

/**
 * The round's running sum of weighted deltas, Σ n_i·(w_i − w_global), one float32 array per tensor,
 * and the total weight Σ n_i of the accepted updates. Chunks are folded in as they arrive, so an
 * update is never held whole: memory is the global model plus this sum, whatever the number of sites.
 * Deltas (not raw weights) are summed so that float32 keeps the precision where it matters.
 */
export class RunningSum {
  readonly sums: Float32Array[];
  totalWeight = 0;

  constructor(private readonly global: Model) {
    this.sums = global.map((t) => new Float32Array(t.data.length));
  }

  /** sum[tensor][offset..] += weight·(values − global); returns Σ (values − global)², for clipping. */
  fold(tensor: number, elementOffset: number, values: Float32Array, weight: number): number {
    return this.apply(tensor, elementOffset, values, weight);
  }

  /** Takes back a chunk fold() added, for an update refused halfway. */
  unfold(tensor: number, elementOffset: number, values: Float32Array, weight: number): void {
    this.apply(tensor, elementOffset, values, -weight);
  }

  reset(): void {
    for (const s of this.sums) s.fill(0);
    this.totalWeight = 0;
  }

  private apply(tensor: number, elementOffset: number, values: Float32Array, weight: number): number {
    const sum = this.sums[tensor]!;
    const global = this.global[tensor]!.data;
    const n = values.length;
    let squares = 0;
    for (let i = 0, j = elementOffset; i < n; i++, j++) {
      const delta = values[i]! - global[j]!;
      sum[j]! += weight * delta;
      squares += delta * delta;
    }
    return squares;
  }
}
