import { jobTraffic, type JobTraffic } from './round-traffic.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { JobProgress } from './job-state.js';
import { bufferedUpdatesOf, MODEL_FILE, type PrivacySummary } from './result.js';

/**
 * GET /status: the aggregator's progress as JSON, for the operator to mirror into the
 * FederatedJob's status (the operator is the only writer of that status; the aggregator needs no
 * credentials for the Kubernetes API).
 */
export interface AggregatorStatus {
  /** Whose aggregator this is, so that a reader can tell it reached the right one. */
  namespace: string;
  job: string;
  /** Initializing, Statistics, Training, Evaluating, then Succeeded or Failed. */
  phase: string;
  /** The last round that closed. */
  round: number;
  rounds: number;
  participants: number;
  loss: number | null;
  accuracy: number | null;
  /** Under spec.asynchronous, staleness and stalenessWeight are those of the site's last applied update. */
  sites: Record<string, { lastRound?: number; accuracy?: number | null; samples?: number; fineTunedAccuracy?: number; staleness?: number; stalenessWeight?: number }>;
  /** The final model; path is relative to the aggregator's state directory (its checkpoint volume). */
  model?: { path: string; sha256: string; bytes: number };
  message?: string;
  /** Under differential privacy: ε for δ spent after the last closed round, and the budget. */
  privacy?: PrivacySummary;
  /** Chunk bytes on the wire over the closed rounds (docs/compression.md). */
  traffic?: JobTraffic;
}

const PHASES: Record<string, string> = { INITIALIZE: 'Initializing', STATISTICS: 'Statistics', TRAIN: 'Training', EVALUATE: 'Evaluating' };

export class StatusReporter {
  private model: Promise<AggregatorStatus['model']> | undefined;

  constructor(
    private readonly job: { progress(): JobProgress },
    private readonly stateDir: string,
  ) {}

  async report(): Promise<AggregatorStatus> {
    const p = this.job.progress();
    const result = p.result;
    const last = p.history.at(-1);
    // A round's record evaluates the model it started from; the final evaluation, the last model.
    const latest = p.finalEvaluation?.eval ?? last?.eval ?? null;
    const sites: AggregatorStatus['sites'] = {};
    for (const record of p.history) {
      for (const s of record.sites) sites[s.site] = { lastRound: record.round, samples: s.numSamples, accuracy: s.eval?.accuracy ?? null };
      for (const u of bufferedUpdatesOf(record)) Object.assign(sites[u.site]!, { staleness: u.staleness, stalenessWeight: u.stalenessWeight });
    }
    for (const s of p.finalEvaluation?.sites ?? []) {
      sites[s.site] = { ...sites[s.site], accuracy: s.eval?.accuracy ?? null, ...(s.fineTuned ? { fineTunedAccuracy: s.fineTuned.accuracy } : {}) };
    }
    const status: AggregatorStatus = {
      namespace: p.namespace,
      job: p.job,
      phase: result ? (result.succeeded ? 'Succeeded' : 'Failed') : (PHASES[p.position.phase] ?? p.position.phase),
      round: last?.round ?? 0,
      rounds: p.rounds,
      participants: last?.participants.length ?? 0,
      loss: latest?.loss ?? null,
      accuracy: latest?.accuracy ?? null,
      sites,
      ...(p.privacy ? { privacy: p.privacy } : {}),
      ...(p.history.length > 0 ? { traffic: jobTraffic(p.history) } : {}),
    };
    if (result) {
      status.message = result.message;
      if (result.succeeded) {
        const model = await (this.model ??= this.describeModel());
        if (model) status.model = model;
      }
    }
    return status;
  }

  private async describeModel(): Promise<AggregatorStatus['model']> {
    const file = path.join(this.stateDir, MODEL_FILE);
    const bytes = (await stat(file).catch(() => null))?.size;
    if (bytes === undefined) {
      this.model = undefined; // not written yet: look again next time
      return undefined;
    }
    return { path: MODEL_FILE, sha256: await fileSha256(file), bytes };
  }
}

/** A file's SHA-256 (hex), read as a stream: a model may be larger than any one Buffer. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
