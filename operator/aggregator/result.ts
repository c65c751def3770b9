import { writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../process/atomic-file.js';
import type { StrategyName } from './strategy.js';

/** Loss and accuracy over numSamples records (sample-weighted when aggregated over sites). */
export interface Figures {
  numSamples: number;
  loss: number;
  accuracy: number;
}

export interface SiteRound {
  site: string;
  /** The update's weight in the average. */
  numSamples: number;
  /** The site's locally trained model on its training split. */
  train: Figures | null;
  /** The global model the site received, on its held-out test split. */
  eval: Figures | null;
}

export interface RoundRecord {
  round: number;
  /** > 0 when the round was retried after a missed quorum. */
  attempt: number;
  participants: string[];
  startedAt: string;
  durationSeconds: number;
  /** Sample-weighted over the participants. */
  train: Figures | null;
  /** The global model this round started from (the previous round's result), sample-weighted. */
  eval: Figures | null;
  sites: SiteRound[];
}

export interface FinalEvaluation {
  /** The final global model, sample-weighted over the sites that evaluated it. */
  eval: Figures | null;
  sites: { site: string; eval: Figures | null }[];
}

/** result.json in the aggregator's state dir, written when the job ends (and kept current on failure). */
export interface JobResult {
  job: string;
  namespace: string;
  strategy: StrategyName;
  status: 'Succeeded' | 'Failed';
  reason: string;
  rounds: RoundRecord[];
  finalEvaluation: FinalEvaluation | null;
  /** The summed federated statistics vector, when the job had a statistics phase. */
  statistics: number[] | null;
  /** The final global model, beside this file (null if the job failed before it had one). */
  model: string | null;
  finishedAt: string;
}

export const RESULT_FILE = 'result.json';
export const MODEL_FILE = 'model.safetensors';

export async function writeResult(path: string, result: JobResult): Promise<void> {
  await writeFileAtomic(path, (file) => writeFile(file, JSON.stringify(result, null, 2) + '\n'));
}
