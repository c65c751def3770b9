import type { Model } from '../federation/model.js';
import { rng } from '../process/random.js';

/**
 * A fully connected network with ReLU between layers and one logit out: logistic regression when it
 * has no hidden layer. Parameters live in one flat Float64Array, tensor after tensor in the model's
 * order (weight then bias, layer by layer), so that SGD, FedProx and the model conversion are plain
 * loops over one vector. Tensors are named as PyTorch names them, so a model trained here loads into
 * nn.Linear(F, 1) (`weight`, `bias`) or nn.Sequential(Linear, ReLU, Linear, ...) (`0.weight`,
 * `0.bias`, `2.weight`, ...) with load_state_dict.
 */
export class Network {
  readonly size: number;
  private readonly weightOffsets: number[] = [];
  private readonly biasOffsets: number[] = [];
  /** Post-ReLU activations of the hidden layers, from the last forward pass. */
  private readonly hidden: Float64Array[];
  private readonly deltas: Float64Array[];

  constructor(readonly widths: readonly number[]) {
    if (widths.length < 2 || widths.some((w) => !Number.isInteger(w) || w < 1) || widths.at(-1) !== 1) {
      throw new Error(`a network needs ≥ 1 input and one output, got layer widths [${widths.join(', ')}]`);
    }
    let offset = 0;
    for (let l = 0; l + 1 < widths.length; l++) {
      this.weightOffsets.push(offset);
      offset += widths[l]! * widths[l + 1]!;
      this.biasOffsets.push(offset);
      offset += widths[l + 1]!;
    }
    this.size = offset;
    this.hidden = widths.slice(1, -1).map((w) => new Float64Array(w));
    this.deltas = widths.slice(1).map((w) => new Float64Array(w));
  }

  private get layers(): number {
    return this.widths.length - 1;
  }

  /** Tensor names in model order: PyTorch's nn.Linear for logistic regression, nn.Sequential indices otherwise. */
  tensorNames(): string[] {
    if (this.layers === 1) return ['weight', 'bias'];
    return Array.from({ length: this.layers }, (_, l) => [`${2 * l}.weight`, `${2 * l}.bias`]).flat();
  }

  /**
   * Initial parameters. Logistic regression starts at zero (its loss is convex, and zero is the
   * usual start); a hidden layer needs broken symmetry, so every layer then gets PyTorch's
   * nn.Linear default, U(-1/√fan_in, 1/√fan_in) for weights and biases (Kaiming-uniform, a = √5).
   */
  initialParameters(seed: number): Float64Array {
    const params = new Float64Array(this.size);
    if (this.layers === 1) return params;
    const random = rng(seed);
    for (let l = 0; l < this.layers; l++) {
      const bound = 1 / Math.sqrt(this.widths[l]!);
      const end = this.biasOffsets[l]! + this.widths[l + 1]!;
      for (let i = this.weightOffsets[l]!; i < end; i++) params[i] = (2 * random() - 1) * bound;
    }
    return params;
  }

  toModel(params: Float64Array): Model {
    const names = this.tensorNames();
    return names.map((name, t) => {
      const l = t >> 1;
      const isWeight = t % 2 === 0;
      const start = isWeight ? this.weightOffsets[l]! : this.biasOffsets[l]!;
      const shape = isWeight ? [this.widths[l + 1]!, this.widths[l]!] : [this.widths[l + 1]!];
      const length = shape.reduce((n, d) => n * d, 1);
      return { name, shape, data: Float32Array.from(params.subarray(start, start + length)) };
    });
  }

  /** The parameters of a model, after checking it is this network's (names and shapes). */
  fromModel(model: Model): Float64Array {
    const expected = this.toModel(new Float64Array(this.size));
    const describe = (m: Model) => m.map((t) => `${t.name}[${t.shape.join(',')}]`).join(' ');
    if (describe(model) !== describe(expected)) {
      throw new Error(`the model is not this trainer's network: got ${describe(model)}, expected ${describe(expected)}`);
    }
    const params = new Float64Array(this.size);
    let offset = 0;
    for (const t of model) {
      if (t.data.length !== t.shape.reduce((n, d) => n * d, 1)) throw new Error(`tensor ${t.name} has ${t.data.length} values for shape [${t.shape.join(',')}]`);
      params.set(t.data, offset);
      offset += t.data.length;
    }
    return params;
  }

  /** The logit of row `row` of x (row-major, widths[0] columns); keeps the activations for backward. */
  forward(params: Float64Array, x: Float64Array, row: number): number {
    let input: Float64Array = x;
    let inputOffset = row * this.widths[0]!;
    let logit = 0;
    for (let l = 0; l < this.layers; l++) {
      const fanIn = this.widths[l]!;
      const fanOut = this.widths[l + 1]!;
      const w = this.weightOffsets[l]!;
      const b = this.biasOffsets[l]!;
      const last = l === this.layers - 1;
      const out = last ? null : this.hidden[l]!;
      for (let i = 0; i < fanOut; i++) {
        let s = params[b + i]!;
        const wi = w + i * fanIn;
        for (let k = 0; k < fanIn; k++) s += params[wi + k]! * input[inputOffset + k]!;
        if (out) out[i] = s > 0 ? s : 0;
        else logit = s;
      }
      if (out) {
        input = out;
        inputOffset = 0;
      }
    }
    return logit;
  }

  /** Adds d(loss)/d(params) to grad, given d(loss)/d(logit) of the row of the last forward pass. */
  backward(params: Float64Array, grad: Float64Array, x: Float64Array, row: number, dLogit: number): void {
    this.deltas[this.layers - 1]![0] = dLogit;
    for (let l = this.layers - 1; l >= 0; l--) {
      const fanIn = this.widths[l]!;
      const fanOut = this.widths[l + 1]!;
      const w = this.weightOffsets[l]!;
      const b = this.biasOffsets[l]!;
      const delta = this.deltas[l]!;
      const input = l === 0 ? x : this.hidden[l - 1]!;
      const inputOffset = l === 0 ? row * fanIn : 0;
      for (let i = 0; i < fanOut; i++) {
        const d = delta[i]!;
        if (d === 0) continue;
        grad[b + i] = grad[b + i]! + d;
        const wi = w + i * fanIn;
        for (let k = 0; k < fanIn; k++) grad[wi + k] = grad[wi + k]! + d * input[inputOffset + k]!;
      }
      if (l === 0) break;
      const below = this.deltas[l - 1]!;
      const activation = this.hidden[l - 1]!;
      for (let k = 0; k < fanIn; k++) {
        if (activation[k]! <= 0) {
          below[k] = 0;
          continue;
        }
        let s = 0;
        for (let i = 0; i < fanOut; i++) s += params[w + i * fanIn + k]! * delta[i]!;
        below[k] = s;
      }
    }
  }
}
