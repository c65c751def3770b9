import { siteNames, type FederatedJob, type FederatedJobSpec } from '../api/federatedjob.js';
import { privacyPlan, type PrivacyPlan } from '../privacy/job-plan.js';
import type { BuiltinTrainerSpec } from '../trainer/builtin-spec.js';
import { NO_COMPRESSION, type Encoding, type JobCompression } from '../federation/compression.js';
import type { SecureAggregationSettings } from './secure-round.js';

/** What the aggregator takes from a FederatedJob (schema defaults already applied). */
export interface JobSettings {
  job: string;
  namespace: string;
  sites: string[];
  rounds: number;
  minSites: number;
  sitesPerRound: number | undefined;
  deadlineMs: number;
  heartbeatTimeoutMs: number;
  maxRoundRetries: number;
  seed: number;
  strategy: FederatedJobSpec['strategy'];
  training: { localEpochs: number; localSteps: number; batchSize: number; learningRate: number };
  /** Refuse larger updates; the model's own size when undefined. */
  maxUpdateBytes: number | undefined;
  /** Whether the sites standardise with federated statistics (a STATISTICS phase before training). */
  statistics: boolean;
  /** Differential privacy (spec.privacy), worked out; null without it. */
  privacy: PrivacyPlan | null;
  /** How model downloads and TRAIN uploads are encoded (spec.compression). */
  compression: JobCompression;
  /** Secure aggregation (spec.secureAggregation); null without it. */
  secureAggregation: SecureAggregationSettings | null;
  /** The built-in trainer's spec: what the sites' models and statistics look like follows from it. */
  builtin: BuiltinTrainerSpec | undefined;
  /** Asynchronous buffered aggregation (spec.asynchronous) instead of synchronous rounds; absent without it. */
  asynchronous?: FederatedJobSpec['asynchronous'];
}

export function jobSettings(job: FederatedJob, namespace: string): JobSettings {
  const spec = job.spec;
  const { localEpochs, localSteps, batchSize, learningRate } = spec.trainer;
  return {
    job: job.metadata.name,
    namespace,
    sites: siteNames(job),
    rounds: spec.rounds,
    minSites: spec.minSites,
    sitesPerRound: spec.sitesPerRound,
    deadlineMs: spec.roundDeadlineSeconds * 1000,
    heartbeatTimeoutMs: spec.heartbeatTimeoutSeconds * 1000,
    maxRoundRetries: spec.maxRoundRetries,
    seed: spec.seed,
    strategy: spec.strategy,
    // One local epoch when the job gives neither.
    training: { localEpochs: localSteps === undefined ? (localEpochs ?? 1) : 0, localSteps: localSteps ?? 0, batchSize, learningRate },
    maxUpdateBytes: spec.aggregator.maxUpdateBytes,
    statistics: spec.trainer.builtin?.dataset.standardize === 'Federated',
    privacy: spec.privacy ? privacyPlan(spec.privacy, siteNames(job).length, spec.sitesPerRound, spec.rounds, spec.secureAggregation?.threshold) : null,
    secureAggregation: spec.secureAggregation ? secureAggregationSettings(spec.secureAggregation) : null,
    builtin: spec.trainer.builtin,
    compression: compressionOf(spec.compression),
    ...(spec.asynchronous ? { asynchronous: spec.asynchronous } : {}),
  };
}

const ENCODING: Record<NonNullable<FederatedJobSpec['compression']>['upload'], Encoding> = { None: 'ENCODING_NONE', FP16: 'FP16', Int8: 'INT8', TopK: 'TOP_K' };

/** spec.compression in the wire's terms. */
export function compressionOf(spec: FederatedJobSpec['compression']): JobCompression {
  if (!spec) return NO_COMPRESSION;
  return { download: ENCODING[spec.download], upload: ENCODING[spec.upload], topKFraction: spec.topKFraction ?? 0 };
}

export function secureAggregationSettings(spec: NonNullable<FederatedJobSpec['secureAggregation']>): SecureAggregationSettings {
  return { threshold: spec.threshold, neighbours: spec.neighbours, clip: spec.clippingRange, stageTimeoutMs: spec.stageTimeoutSeconds * 1000 };
}
