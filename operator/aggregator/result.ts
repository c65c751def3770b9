import type { RoundTrafficRecord } from './round-traffic.js';
import type { SecureRoundFigures } from './secure-round.js';
import { writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../process/atomic-file.js';
import type { RobustSettings } from './robust-rules.js';
import type { StrategyName } from './strategy.js';
import type { FederatedJobSpec } from '../api/federatedjob.js';

/** Loss and accuracy over numSamples records (sample-weighted when aggregated over sites). */
export interface Figures {
  numSamples: number;
  loss: number;
  accuracy: number;
}

export interface SiteRound {
  site: string;
  /** The update's weight in the average (under DP every update weighs 1; this stays the sample count). */
  numSamples: number;
  /** Central DP: the L2 norm of the site's update delta as it came, before the aggregator clipped it. */
  updateNorm?: number;
  /** The site's locally trained model on its training split. */
  train: Figures | null;
  /** The global model the site received, on its held-out test split. */
  eval: Figures | null;
  /** Final evaluation under spec.personalization: that model fine-tuned at the site, on the same split. */
  fineTuned?: Figures;
}

/** spec.asynchronous, defaults applied. */
export type AsynchronousSpec = NonNullable<FederatedJobSpec['asynchronous']>;

/** A site's update in a version made under asynchronous aggregation: what it trained on and how it weighed. */
export interface BufferedUpdate extends SiteRound {
  /** The version of the model the site trained on. */
  trainedOn: number;
  /** τ: versions made between the one it trained on and the one its buffer moves. */
  staleness: number;
  /** s(τ): its weight is numSamples · stalenessWeight. */
  stalenessWeight: number;
}

/** A round's sites as the updates its buffer held, under asynchronous aggregation; none for a synchronous round. */
export function bufferedUpdatesOf(record: RoundRecord): BufferedUpdate[] {
  return record.asynchronous ? (record.sites as BufferedUpdate[]) : [];
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
  /** Under asynchronous aggregation each is a BufferedUpdate (bufferedUpdatesOf). */
  sites: SiteRound[];
  /** Under differential privacy: what the job had spent once this round closed. */
  privacy?: RoundPrivacyRecord;
  /** Bytes on the wire this round, and what the download encoding cost (docs/compression.md). */
  traffic?: RoundTrafficRecord;
  /** Under secure aggregation: the threshold, who was in the sum and who dropped, the stages' times. */
  secureAggregation?: SecureRoundFigures;
  /** Under asynchronous aggregation: the version this buffer made and how many updates it held (each site's staleness and weight are in sites). */
  asynchronous?: { version: number; updates: number };
}

export interface RoundPrivacyRecord {
  /** ε for δ after this round, by the RDP accountant (operator/privacy). */
  epsilon: number;
  delta: number;
  /** The clip norm this round used, and the next round's (they differ with adaptive clipping). */
  clipNorm: number;
  nextClipNorm: number;
  /** Central: the standard deviation of the noise added to each coordinate of the sum; null for Local. */
  noiseStddev: number | null;
  /** Central: how many of the round's updates were over the clip norm; null for Local. */
  clipped: number | null;
}

export interface FinalEvaluation {
  /** The final global model, sample-weighted over the sites that evaluated it. */
  eval: Figures | null;
  sites: { site: string; eval: Figures | null; fineTuned?: Figures }[];
  /** Under spec.personalization: the sites' fine-tuned models on their own test splits, sample-weighted. */
  fineTuned?: Figures | null;
}

/** result.json in the aggregator's state dir, written when the job ends (and kept current on failure). */
export interface JobResult {
  job: string;
  namespace: string;
  strategy: StrategyName;
  /** spec.strategy.robust, when the job had a robust rule or a norm bound. */
  robust?: RobustSettings;
  status: 'Succeeded' | 'Failed';
  reason: string;
  rounds: RoundRecord[];
  finalEvaluation: FinalEvaluation | null;
  /** spec.asynchronous, when the job aggregated asynchronously (FedBuff): rounds are then versions. */
  asynchronous?: AsynchronousSpec;
  /** The summed federated statistics vector, when the job had a statistics phase. */
  statistics: number[] | null;
  /** The final global model, beside this file (null if the job failed before it had one). */
  model: string | null;
  finishedAt: string;
  /** Under differential privacy: ε spent, δ, the budget, the noise. */
  privacy?: PrivacySummary;
  /** Under secure aggregation: its setting (each round's figures are in its record). */
  secureAggregation?: SecureAggregationSummary;
  /** The job's audit trail beside this file, and its head once the job's end was written (`flotilla audit verify --head`). */
  audit?: { file: string; entries: number; head: string };
}

export interface SecureAggregationSummary {
  threshold: number;
  /** Unset: every other site of a round. */
  neighbours: number | null;
  clippingRange: number;
  stageTimeoutSeconds: number;
}

/** Where a job under differential privacy stands: in /status and result.json. */
export interface PrivacySummary {
  mode: 'Central' | 'Local' | 'Distributed';
  /** ε for δ spent so far (0 before the first round). */
  epsilon: number;
  delta: number;
  /** targetEpsilon, when the job has a budget. */
  budget: number | null;
  noiseMultiplier: number;
  sampling: string;
}

export const RESULT_FILE = 'result.json';
export const MODEL_FILE = 'model.safetensors';

export async function writeResult(path: string, result: JobResult): Promise<void> {
  await writeFileAtomic(path, (file) => writeFile(file, JSON.stringify(result, null, 2) + '\n'));
}
