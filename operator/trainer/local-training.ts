import type { TrainParams } from './trainer.js';
import type { Network } from './network.js';
import type { Split } from './tabular-dataset.js';
import { rng, shuffle } from '../process/random.js';

/** Binary cross-entropy of a logit, in the stable form max(z,0) − z·y + log(1 + e^−|z|). */
export function bceWithLogits(z: number, y: number): number {
  return Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export interface SplitScore {
  loss: number;
  accuracy: number;
}

/** Mean BCE and accuracy at probability 0.5 (logit 0) over a split. */
export function score(network: Network, params: Float64Array, split: Split): SplitScore {
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < split.rows; r++) {
    const z = network.forward(params, split.x, r);
    const y = split.y[r]!;
    loss += bceWithLogits(z, y);
    if ((z > 0 ? 1 : 0) === y) correct++;
  }
  return { loss: loss / split.rows, accuracy: correct / split.rows };
}

/** The steps K of a round: localEpochs passes of ⌈rows / batchSize⌉ batches, or localSteps. */
export function localStepCount(rows: number, params: Pick<TrainParams, 'localEpochs' | 'localSteps' | 'batchSize'>): number {
  const steps = params.localEpochs > 0 ? params.localEpochs * Math.ceil(rows / params.batchSize) : params.localSteps;
  if (!(steps >= 1)) throw new Error(`nothing to train: localEpochs ${params.localEpochs}, localSteps ${params.localSteps}`);
  return steps;
}

/**
 * Mini-batch SGD from the global parameters, in place on a copy: localEpochs passes over the data,
 * or localSteps batches (the data reshuffled at each pass), each batch's mean gradient plus FedProx's
 * mu·(w − w_global) and SCAFFOLD's correction c − c_i. The order is seeded by params.seed, so a round replays exactly.
 */
export function trainLocally(
  network: Network,
  global: Float64Array,
  split: Split,
  params: TrainParams,
  /** SCAFFOLD's c − c_i, added to every step's gradient. */
  correction?: Float64Array,
): Float64Array {
  const { batchSize, learningRate, proximalMu } = params;
  if (!(batchSize >= 1) || !(learningRate > 0)) throw new Error(`batch size ${batchSize} and learning rate ${learningRate} must be positive`);
  const steps = localStepCount(split.rows, params);
  const w = Float64Array.from(global);
  const grad = new Float64Array(network.size);
  const random = rng(params.seed);
  const order = new Uint32Array(split.rows);
  let cursor = split.rows;
  for (let step = 0; step < steps; step++) {
    if (cursor >= split.rows) {
      for (let i = 0; i < order.length; i++) order[i] = i;
      shuffle(order, random);
      cursor = 0;
    }
    // A pass ends with a short batch rather than spilling into the next pass (PyTorch's DataLoader does the same).
    const end = Math.min(cursor + batchSize, split.rows);
    grad.fill(0);
    for (let i = cursor; i < end; i++) {
      const r = order[i]!;
      const z = network.forward(w, split.x, r);
      network.backward(w, grad, split.x, r, sigmoid(z) - split.y[r]!);
    }
    const scale = 1 / (end - cursor);
    for (let j = 0; j < w.length; j++) {
      let g = grad[j]! * scale;
      if (proximalMu > 0) g += proximalMu * (w[j]! - global[j]!);
      if (correction) g += correction[j]!;
      w[j] = w[j]! - learningRate * g;
    }
    cursor = end;
  }
  return w;
}
