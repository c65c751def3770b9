import type { Metrics__Output } from '../federation/generated/flotilla/federation/v1/Metrics.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { Refusal } from './refusal.js';

/** The most records a site may claim (its weight, the count behind its figures): a hundred million. */
export const MAX_RECORDS = 1e8;

/** Relative slack for Σx² ≥ (Σx)²/n, which rounding may break by a few ulps for a constant feature. */
const VARIANCE_SLACK = 1e-9;

/**
 * What each site may claim about itself. A job with federated statistics learns every site's
 * training records from its statistics vector; from then on an update's weight and its training
 * figures may not count more records than that, and its test figures no more than the test split
 * that many training records imply (spec testFraction). A site that sent no statistics is held to
 * the largest count another site sent. Without a statistics phase, every count is held to
 * MAX_RECORDS: the aggregator has nothing else to check it against.
 */
export class SiteRecords {
  private readonly training: Map<string, number>;

  constructor(
    /** The spec's testFraction when the job has a statistics phase; null without one. */
    private readonly testFraction: number | null,
    known: Readonly<Record<string, number>> = {},
  ) {
    this.training = new Map(Object.entries(known));
  }

  /** Checks a statistics vector [count, Σx…, Σx²…] is one some records could have; throws a Refusal. */
  static checkStatistics(vector: Float64Array): void {
    const count = vector[0]!;
    if (!Number.isInteger(count) || count < 1 || count > MAX_RECORDS) {
      throw new Refusal('invalid_header', `the statistics count ${count} is not a number of records (an integer from 1 to ${MAX_RECORDS})`);
    }
    const features = (vector.length - 1) / 2;
    for (let j = 0; j < features; j++) {
      const sum = vector[1 + j]!;
      const squares = vector[1 + features + j]!;
      if (squares < ((sum * sum) / count) * (1 - VARIANCE_SLACK)) {
        throw new Refusal('invalid_header', `the statistics of feature ${j} have a negative variance (Σx² ${squares} < (Σx)²/n): no records give that`);
      }
    }
  }

  learn(site: string, count: number): void {
    this.training.set(site, count);
  }

  /** Sites' training records, for the checkpoint. */
  known(): Record<string, number> {
    return Object.fromEntries(this.training);
  }

  /** Refuses an update whose weight or figures count more records than the site has. */
  check(site: string, header: UpdateHeader__Output): void {
    const training = this.trainingBound(site);
    if (header.kind === 'TRAIN' && header.numSamples > training) {
      throw new Refusal('invalid_header', `num_samples ${header.numSamples} is more than the ${training} training records ${this.source(site)}`);
    }
    if (header.train && header.train.numSamples > training) {
      throw new Refusal('invalid_header', `the training figures count ${header.train.numSamples} records, more than the ${training} ${this.source(site)}`);
    }
    const test = this.testBound(training);
    if (header.eval && header.eval.numSamples > test) {
      throw new Refusal('invalid_header', `the evaluation figures count ${header.eval.numSamples} records, more than the ${test} test records ${this.source(site)}`);
    }
  }

  private trainingBound(site: string): number {
    if (this.testFraction === null) return MAX_RECORDS;
    return this.training.get(site) ?? Math.max(0, ...this.training.values());
  }

  /**
   * The largest test split a site with this many training records can have: the trainer holds out
   * t = ceil(f·r) of r records, so r − t = training; the largest t with ceil(f·(training + t)) = t.
   */
  private testBound(training: number): number {
    const f = this.testFraction;
    if (f === null) return MAX_RECORDS;
    const estimate = Math.ceil((f * training + 1) / (1 - f)) - 1;
    for (let t = estimate + 1; t >= Math.max(0, estimate - 2); t--) if (Math.ceil(f * (training + t)) === t) return t;
    return estimate + 1;
  }

  private source(site: string): string {
    if (this.testFraction === null) return 'any site may claim';
    return this.training.has(site) ? `site ${site} declared in the statistics phase` : 'any site declared in the statistics phase';
  }
}

/** Checks that figures are numbers a person could believe: a count of records, a loss ≥ 0, an accuracy in [0, 1]. */
export function checkFigures(what: string, m: Metrics__Output | null): void {
  if (!m) return;
  if (!Number.isSafeInteger(m.numSamples) || m.numSamples > MAX_RECORDS) {
    throw new Refusal('invalid_header', `the update's ${what} figures count ${m.numSamples} records, more than the ${MAX_RECORDS} any site may claim`);
  }
  if (!(Number.isFinite(m.loss) && Number.isFinite(m.accuracy) && Object.values(m.extra).every(Number.isFinite))) {
    throw new Refusal('not_finite', `the update's ${what} metrics hold NaN or Infinity`);
  }
  if (m.loss < 0 || m.accuracy < 0 || m.accuracy > 1) {
    throw new Refusal('invalid_header', `the update's ${what} figures are loss ${m.loss}, accuracy ${m.accuracy}: a loss is ≥ 0 and an accuracy between 0 and 1`);
  }
}
