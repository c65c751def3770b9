import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FederatedJob } from '../api/federatedjob.js';
import { bufferedUpdatesOf, MODEL_FILE, RESULT_FILE, type BufferedUpdate, type Figures, type JobResult, type PrivacySummary, type RoundPrivacyRecord, type SecureAggregationSummary } from '../aggregator/result.js';
import type { SecureRoundFigures } from '../aggregator/secure-round.js';
import { readSafetensors } from '../federation/safetensors.js';
import { fileSha256 } from '../aggregator/status.js';
import { jobTraffic, type JobTraffic, type RoundTrafficRecord } from '../aggregator/round-traffic.js';
import { describeModel } from '../trainer/model-description.js';
import { roundsChartSvg } from './chart.js';
import { writeAuditOutputs, type AuditSummary } from './audit-outputs.js';

/**
 * What a simulation leaves behind for a person: summary.json (the figures), model.safetensors (the
 * final global model), model.json (how to feed it) and rounds.svg (loss and accuracy per round).
 */
export interface Summary {
  job: string;
  namespace: string;
  strategy: string;
  /** spec.strategy.robust, when the job had a robust rule or a norm bound. */
  robust?: JobResult['robust'];
  status: string;
  reason: string;
  /** The initial model on the sites' test sets, before any round. */
  initial: Figures | null;
  rounds: {
    round: number;
    attempt: number;
    participants: string[];
    durationSeconds: number;
    /** The sites' local training, sample-weighted. */
    train: Figures | null;
    /** The global model after this round on the sites' test sets, sample-weighted. */
    test: Figures | null;
    /** Under differential privacy: ε after this round, the clip norm, the noise. */
    privacy?: RoundPrivacyRecord;
    /** Central DP: each site's update norm as it reached the aggregator, before clipping. */
    updateNorms?: Record<string, number>;
    /** Chunk bytes on the wire this round, the compression factor, the download encoding's error. */
    traffic?: RoundTrafficRecord;
    /** Under secure aggregation: who was in the sum, who dropped at which stage, each stage's seconds, the masked bytes. */
    secureAggregation?: SecureRoundFigures;
    /** Under asynchronous aggregation: the version made, and each buffered update's records, the version it was trained on, its staleness and weight. */
    asynchronous?: { version: number; updates: Pick<BufferedUpdate, 'site' | 'numSamples' | 'trainedOn' | 'staleness' | 'stalenessWeight'>[] };
  }[];
  /** spec.asynchronous, when the job aggregated asynchronously. */
  asynchronous?: JobResult['asynchronous'];
  /** Chunk bytes of every round's downloads and training updates, how many times fewer than unencoded, the last round's download error. */
  traffic: JobTraffic;
  sites: {
    site: string;
    trainSamples: number;
    testSamples: number;
    testLoss: number | null;
    testAccuracy: number | null;
    /** Under spec.personalization: the final model fine-tuned at the site, on the same test split. */
    fineTunedTestLoss?: number;
    fineTunedTestAccuracy?: number;
  }[];
  /** The mean over sites of the final model's test accuracy: the benchmark's figure. */
  meanTestAccuracy: number | null;
  /** Under spec.personalization: the same mean for the sites' fine-tuned models. */
  meanFineTunedTestAccuracy?: number;
  /** The final model's accuracy over all sites' test records together. */
  pooledTestAccuracy: number | null;
  model: { file: string; sha256: string; bytes: number } | null;
  /** Under differential privacy: ε spent by the whole job, δ, the budget. */
  privacy?: PrivacySummary;
  /** Under secure aggregation: the threshold, neighbours, clipping range (each round's figures are in rounds[]). */
  secureAggregation?: SecureAggregationSummary;
  /** The audit trails of the job and of each site (OUT/audit/), verified and held against each other. */
  audit?: AuditSummary;
}

export function summarize(result: JobResult): Omit<Summary, 'model'> {
  // A round's record carries the evaluation of the model it started from: the model after round r
  // is evaluated at the start of round r+1, and the last one by the final evaluation.
  const rounds = result.rounds.map((r, i) => ({
    round: r.round,
    attempt: r.attempt,
    participants: r.participants,
    durationSeconds: r.durationSeconds,
    train: r.train,
    test: i + 1 < result.rounds.length ? result.rounds[i + 1]!.eval : (result.finalEvaluation?.eval ?? null),
    ...(r.privacy ? { privacy: r.privacy } : {}),
    ...(r.secureAggregation ? { secureAggregation: r.secureAggregation } : {}),
    ...(r.sites.some((s) => s.updateNorm !== undefined) ? { updateNorms: Object.fromEntries(r.sites.map((s) => [s.site, s.updateNorm!])) } : {}),
    ...(r.traffic ? { traffic: r.traffic } : {}),
    ...(r.asynchronous ? { asynchronous: { version: r.asynchronous.version, updates: bufferedUpdatesOf(r).map(({ site, numSamples, trainedOn, staleness, stalenessWeight }) => ({ site, numSamples, trainedOn, staleness, stalenessWeight })) } } : {}),
  }));
  const trainSamples = new Map<string, number>();
  for (const round of result.rounds) for (const s of round.sites) trainSamples.set(s.site, s.numSamples);
  const sites = (result.finalEvaluation?.sites ?? []).map(({ site, eval: e, fineTuned }) => ({
    site,
    trainSamples: trainSamples.get(site) ?? 0,
    testSamples: e?.numSamples ?? 0,
    testLoss: e?.loss ?? null,
    testAccuracy: e?.accuracy ?? null,
    ...(fineTuned ? { fineTunedTestLoss: fineTuned.loss, fineTunedTestAccuracy: fineTuned.accuracy } : {}),
  }));
  const accuracies = sites.map((s) => s.testAccuracy).filter((a): a is number => a !== null);
  const tuned = sites.map((s) => s.fineTunedTestAccuracy).filter((a): a is number => a !== undefined);
  return {
    job: result.job,
    namespace: result.namespace,
    strategy: result.strategy,
    ...(result.robust ? { robust: result.robust } : {}),
    status: result.status,
    reason: result.reason,
    initial: result.rounds[0]?.eval ?? null,
    rounds,
    sites,
    meanTestAccuracy: accuracies.length ? accuracies.reduce((a, b) => a + b, 0) / accuracies.length : null,
    pooledTestAccuracy: result.finalEvaluation?.eval?.accuracy ?? null,
    ...(tuned.length ? { meanFineTunedTestAccuracy: tuned.reduce((a, b) => a + b, 0) / tuned.length } : {}),
    traffic: jobTraffic(result.rounds),
    ...(result.privacy ? { privacy: result.privacy } : {}),
    ...(result.secureAggregation ? { secureAggregation: result.secureAggregation } : {}),
    ...(result.asynchronous ? { asynchronous: result.asynchronous } : {}),
  };
}

export interface WrittenOutputs {
  succeeded: boolean;
  headline: string;
  files: string[];
}

export async function writeOutputs(o: { job: FederatedJob; namespace: string; stateDir: string; outDir: string; siteTrails?: Map<string, string> }): Promise<WrittenOutputs> {
  const result = JSON.parse(await readFile(path.join(o.stateDir, RESULT_FILE), 'utf8')) as JobResult;
  const files: string[] = [];
  let model: Summary['model'] = null;
  if (result.model) {
    const target = path.join(o.outDir, MODEL_FILE);
    await copyFile(path.join(o.stateDir, result.model), target);
    model = { file: MODEL_FILE, sha256: await fileSha256(target), bytes: (await stat(target)).size };
    files.push(target);
    files.push(await writeJson(path.join(o.outDir, 'model.json'), await modelJson(o.job, result, target)));
  }
  const trails = o.siteTrails ? await writeAuditOutputs({ stateDir: o.stateDir, outDir: o.outDir, siteTrails: o.siteTrails, expectHead: result.audit?.head }) : null;
  const summary: Summary = { ...summarize(result), model, ...(trails ? { audit: trails.audit } : {}) };
  files.unshift(await writeJson(path.join(o.outDir, 'summary.json'), summary));
  if (trails) files.push(...trails.files);
  const chart = path.join(o.outDir, 'rounds.svg');
  const points = [{ round: 0, ...figures(summary.initial) }, ...summary.rounds.map((r) => ({ round: r.round, ...figures(r.test) }))];
  await writeFile(chart, await roundsChartSvg(`${o.job.metadata.name}: ${summary.strategy}`, points));
  files.push(chart);

  const perSite = summary.sites.map((s) => `${s.site} ${s.testAccuracy?.toFixed(3) ?? '-'}`).join(', ');
  const spent =
    (result.privacy ? `, ε = ${result.privacy.epsilon.toFixed(3)} at δ = ${result.privacy.delta}` : '') +
    (result.secureAggregation ? `, securely aggregated (threshold ${result.secureAggregation.threshold})` : '');
  const tuned = summary.meanFineTunedTestAccuracy === undefined ? '' : `; fine-tuned at each site ${summary.meanFineTunedTestAccuracy.toFixed(3)}`;
  const headline =
    result.status === 'Succeeded'
      ? `${o.job.metadata.name}: ${summary.rounds.length} rounds, mean test accuracy over ${summary.sites.length} sites ${summary.meanTestAccuracy?.toFixed(3)} (${perSite})${tuned}${spent}`
      : `${o.job.metadata.name}: ${result.status}: ${result.reason}`;
  const audit = summary.audit;
  const unsound = audit
    ? [
        ...[audit.job, ...audit.sites].filter((t) => !t.intact).map((t) => `${t.file} is broken`),
        ...audit.sites.filter((t) => t.missingFromJob.length + t.missingFromSite.length > 0).map((t) => `${t.file} and the job's trail disagree`),
      ]
    : [];
  if (unsound.length > 0) return { succeeded: false, headline: `${headline}\nthe audit trails do not hold: ${unsound.join('; ')} (see summary.json)`, files };
  return { succeeded: result.status === 'Succeeded', headline, files };
}

function figures(f: Figures | null): { loss?: number; accuracy?: number } {
  return f ? { loss: f.loss, accuracy: f.accuracy } : {};
}

async function modelJson(job: FederatedJob, result: JobResult, modelFile: string): Promise<unknown> {
  const builtin = job.spec.trainer.builtin;
  if (builtin) return describeModel(builtin, result.statistics ? Float64Array.from(result.statistics) : null);
  // A bring-your-own trainer's preprocessing is its own: say what the file holds.
  const { model } = await readSafetensors(modelFile);
  return { trainer: job.spec.trainer.command, tensors: model.map((t) => ({ name: t.name, shape: t.shape })) };
}

async function writeJson(file: string, value: unknown): Promise<string> {
  await writeFile(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}
