import { performance } from 'node:perf_hooks';
import { withoutControlVariates } from '../federation/control-variates.js';
import { allFinite } from '../federation/finite.js';
import { modelBytes, specOf, type Model } from '../federation/model.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { Task } from '../federation/generated/flotilla/federation/v1/Task.js';
import type { Checkpoint } from './checkpoint.js';
import { TrainIntake, WholeIntake, specsOfHeader, specsOfUpdate, type Intake } from './intake.js';
import type { JobSettings } from './job-settings.js';
import { Refusal } from './refusal.js';
import { figuresOf, fineTunedOf, RoundLedger, weightedFigures } from './round-figures.js';
import type { FinalEvaluation, JobResult, PrivacySummary, RoundRecord, SecureAggregationSummary, SiteRound } from './result.js';
import { RoundState, describePhase, endMessage, nextPosition, type Position, type RoundRules, type Transition } from './round-state.js';
import { RunningSum } from './running-sum.js';
import { poissonSample } from '../privacy/site-sampling.js';
import { RoundPrivacy } from './round-privacy.js';
import { selectSites } from './selection.js';
import { MAX_RECORDS, SiteRecords } from './site-records.js';
import { builtinInitialModel, expectedStatisticsLength } from './from-spec.js';
import { Candidates, InitialModelIntake, MAX_INITIAL_MODEL_BYTES, initialModelSpecs } from './initial-model-intake.js';
import { createRobustRule } from './robust-rules.js';
import { SpillIntake } from './spill-intake.js';
import { SpilledRound } from './spilled-round.js';
import { createStrategy } from './strategies.js';
import type { Strategy } from './strategy.js';
import { taskOf } from './tasks.js';
import { RoundTraffic } from './round-traffic.js';
import type { Encoding } from '../federation/compression.js';
import { checkUploadEncoding, decodingIntake } from './decoding-intake.js';
import type { SecureRoundFigures } from './secure-round.js';
import { BufferedIntake } from './buffered-intake.js';
import { BufferedRoundState } from './buffered-round-state.js';
import { UpdateBuffer } from './update-buffer.js';
import { cloneModel } from '../federation/model.js';


type Close = Extract<Transition, { kind: 'close' }>;

/** What a phase's close did, for the closer's logs and metrics. */
export type ClosedPhase =
  | { phase: 'INITIALIZE'; tensors: number }
  | { phase: 'STATISTICS'; values: number }
  | { phase: 'TRAIN'; record: RoundRecord }
  | { phase: 'EVALUATE'; evaluation: FinalEvaluation };

interface Pending {
  /** Where the job goes next. */
  position: Position;
  /** How it ends, when position is DONE. */
  outcome: { succeeded: boolean; message: string } | null;
  record: RoundRecord | null;
  finalEvaluation: FinalEvaluation | null;
}

/** What /status reports: read-only. */
export interface JobProgress {
  namespace: string;
  job: string;
  rounds: number;
  position: Position;
  result: { succeeded: boolean; message: string } | null;
  history: readonly RoundRecord[];
  finalEvaluation: FinalEvaluation | null;
  privacy: PrivacySummary | null;
}


/**
 * Everything the aggregator holds for one job: the round state machine, the global model and the
 * running sum the phase in flight folds into, what that phase collected so far, and the record of
 * the phases that closed. Its one owner: the aggregator takes updates in through it, PhaseCloser
 * closes phases through it, StatusReporter reads its progress.
 */
export class JobState {
  readonly roundState: RoundState;
  private readonly strategy: Strategy;
  private readonly privacy: RoundPrivacy | null;
  private readonly rules: RoundRules;
  private readonly ledger = new RoundLedger();
  /** The round in flight's bytes on the wire (server.ts and aggregator.ts tell it). */
  readonly traffic = new RoundTraffic();
  /** Updates arriving now, by site. */
  private readonly intakes = new Map<string, Intake>();
  private global: Model | null;
  /** The round's running sum (the weighted mean), or, under a robust rule, its spilled updates. */
  private sum: RunningSum | null;
  private readonly spilled: SpilledRound | null;
  /** The initial models sites sent: one is adopted when initialization closes. */
  private readonly candidates = new Candidates();
  /** The statistics phase's running sum, and the final sum once it closed. */
  private statisticsSum: Float64Array | null = null;
  private statistics: Float64Array | null;
  private readonly history: RoundRecord[];
  private finalEvaluation: FinalEvaluation | null;
  /** What a close or a failure decided and has not announced yet: announce() makes it so, once durable. */
  private pending: Pending | null = null;
  /** Bumped whenever the global model changes, so a model being sent can tell it went stale. */
  private modelVersion = 0;
  /** What each site may claim of its records. */
  private readonly records: SiteRecords;
  private readonly statisticsLength: number | null;
  /** Under secure aggregation: the attempt's revealed sum of deltas, once its unmask stage closed. */
  private secureSum: { sum: Float64Array; count: number; figures: SecureRoundFigures } | null = null;
  /** Under asynchronous aggregation (spec.asynchronous): the round state, which is also roundState. */
  private readonly buffered: BufferedRoundState | null;
  /** Under asynchronous aggregation: the buffer, once there is a model to buffer updates for. */
  private buffer: UpdateBuffer | null = null;
  /** Under asynchronous aggregation: makes the checkpoint hold what the buffer holds now (set by the aggregator). */
  persistBuffer: () => Promise<void> = () => Promise.resolve();

  constructor(
    readonly settings: JobSettings,
    checkpoint: Checkpoint | null,
  ) {
    const { sites, sitesPerRound, seed } = settings;
    this.history = checkpoint?.history ?? [];
    const privacy = settings.privacy ? new RoundPrivacy(settings.privacy, this.history) : null;
    this.privacy = privacy;
    const poisson = settings.privacy?.sampling.mode === 'Poisson' ? settings.privacy.sampling.rate : undefined;
    const rules: RoundRules = {
      ...settings,
      select: (round: number, attempt: number) =>
        poisson === undefined ? selectSites(sites, sitesPerRound, seed, round, attempt) : poissonSample(sites, poisson),
      trainQuorum: poisson === undefined ? undefined : 0,
      stopBefore: privacy ? (round: number) => privacy.stopBefore(round) : undefined,
    };
    this.rules = rules;
    // A built-in trainer's initial model follows from the spec: no site is asked for it.
    const initial = checkpoint ? null : builtinInitialModel(settings);
    const start: Position = checkpoint?.position ?? (initial ? nextPosition('INITIALIZE', 0, rules) : { phase: 'INITIALIZE', round: 0 });
    this.buffered = settings.asynchronous ? this.bufferedRounds(settings.asynchronous, checkpoint, start) : null;
    this.roundState = this.buffered ?? new RoundState(rules, start, Date.now());
    if (start.phase === 'DONE') this.roundState.finish(checkpoint?.outcome?.succeeded ?? false, checkpoint?.outcome?.message ?? 'ended');
    const strategy = createStrategy(settings.strategy, sites.length);
    this.strategy = privacy ? privacy.strategy(strategy) : strategy;
    this.strategy.restore(checkpoint?.optimizer ?? []);
    this.global = checkpoint?.model ?? initial;
    if (settings.asynchronous && this.global) this.buffer = new UpdateBuffer(settings.asynchronous, this.global, sites.length, checkpoint?.buffer ?? null, Date.now());
    const robust = settings.strategy.robust;
    const rule = createRobustRule(robust);
    this.spilled = rule ? new SpilledRound(rule, robust?.normBound) : null;
    this.sum = this.global ? this.runningSum(this.global) : null;
    this.statistics = checkpoint?.statistics ? Float64Array.from(checkpoint.statistics) : null;
    this.finalEvaluation = checkpoint?.finalEvaluation ?? null;
    this.statisticsLength = expectedStatisticsLength(settings);
    this.records = new SiteRecords(settings.statistics ? (settings.builtin?.dataset.testFraction ?? null) : null, checkpoint?.siteRecords ?? {});
  }

  /** The site's task now, from the state alone. */
  taskFor(site: string, now: number): Task {
    return taskOf(this.roundState.nextStep(site, now), site, this.settings, this.strategy.proximalMu, this.global, this.statistics);
  }

  /** The global model of the current round, and its version for isCurrent(). */
  modelFor(round: number): { model: Model; version: number; encoding: Encoding } {
    const { phase, round: current, closing } = this.roundState.position;
    if (!this.global || (phase !== 'TRAIN' && phase !== 'EVALUATE') || closing || round !== current) {
      throw new Refusal('stale_round', `no global model for round ${round} now: the aggregator is in ${describePhase(phase, current)}; ask NextTask for work`);
    }
    // The final evaluation is of the model the job delivers: it goes unencoded.
    return { model: this.global, version: this.modelVersion, encoding: phase === 'TRAIN' ? this.settings.compression.download : 'ENCODING_NONE' };
  }

  isCurrent(version: number): boolean {
    return version === this.modelVersion && !this.roundState.position.closing;
  }

  /**
   * Opens the intake of an update whose header the round state admitted, and holds it as the site's
   * until closeIntake() or a phase close revokes it. `journal` names a TRAIN update's undo journal.
   */
  openIntake(site: string, header: UpdateHeader__Output, journal: () => string): Intake {
    const intake = this.intakeFor(site, header, journal);
    this.intakes.set(site, intake);
    return intake;
  }

  /** Whether the intake is still the site's: false once a phase closed under it. */
  holdsIntake(site: string, intake: Intake): boolean {
    return this.intakes.get(site) === intake;
  }

  closeIntake(site: string): void {
    this.intakes.delete(site);
  }

  /** Takes back every update still arriving (see Intake.revoke). */
  revokeIntakes(sumsDiscarded: boolean): Promise<unknown> {
    const intakes = [...this.intakes].filter(([, intake]) => sumsDiscarded || !intake.outlivesPhase);
    for (const [site] of intakes) this.intakes.delete(site);
    return Promise.all(intakes.map(([, intake]) => intake.revoke(sumsDiscarded)));
  }

  /**
   * Closes the phase: adopts what it collected (the initial model, the statistics, the next global
   * model, the final evaluation) and moves the round state on. Throws, leaving the phase where it
   * was, when a round made a model that is not finite. `aggregated` hears how long a round's
   * strategy step took.
   */
  async close(t: Close, now: number, aggregated: (seconds: number) => void): Promise<ClosedPhase> {
    const closed = await this.adopt(t, now, aggregated);
    this.ledger.clear();
    this.traffic.clear();
    const position = nextPosition(t.phase, t.round, this.rules);
    this.pending = {
      position,
      outcome: position.phase === 'DONE' ? { succeeded: true, message: endMessage(t.round, this.rules) } : null,
      record: closed.phase === 'TRAIN' ? closed.record : null,
      finalEvaluation: closed.phase === 'EVALUATE' ? closed.evaluation : null,
    };
    return closed;
  }

  /** Whether the close or failure being carried out ends the job. */
  get ending(): boolean {
    return this.pending?.position.phase === 'DONE';
  }

  /**
   * Makes what the last close or failure decided known to the sites and to /status: the next phase,
   * or the job's end. Call it only once that is durable (checkpoint, result.json).
   */
  announce(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = null;
    if (pending.record) this.history.push(pending.record);
    if (pending.finalEvaluation) this.finalEvaluation = pending.finalEvaluation;
    if (pending.outcome) this.roundState.finish(pending.outcome.succeeded, pending.outcome.message);
    else this.roundState.advance(Date.now());
  }

  /** Forgets every update of the attempt, arrived or arriving. */
  async discardAttempt(): Promise<void> {
    // Revoke before resetting, in the same tick: no chunk of an old update may land in the new sum.
    const revoked = this.revokeIntakes(true);
    this.sum?.reset();
    const spilled = this.spilled?.reset();
    this.statisticsSum = null;
    const candidates = this.candidates.forget();
    this.ledger.clear();
    this.traffic.clear();
    this.privacy?.discardAttempt();
    this.secureSum = null;
    await Promise.all([revoked, candidates, spilled]);
  }

  /**
   * Decides that the job ends in failure, unless its end was announced already; like a close, it
   * holds every site off (closing) until announce().
   */
  failUnlessEnded(message: string): void {
    if (this.roundState.result) return;
    this.roundState.hold();
    const { round } = this.roundState.position;
    this.pending = { position: { phase: 'DONE', round }, outcome: { succeeded: false, message }, record: null, finalEvaluation: null };
  }

  /** The checkpoint of the job as the close or failure under way leaves it. */
  checkpoint(): Checkpoint {
    const { phase, round } = this.pending?.position ?? this.roundState.position;
    return {
      position: { phase, round },
      outcome: this.outcome,
      statistics: this.statistics ? [...this.statistics] : null,
      history: this.decidedHistory(),
      finalEvaluation: this.pending?.finalEvaluation ?? this.finalEvaluation,
      siteRecords: this.records.known(),
      // Asynchronous: written after every accepted update, while a version may be in the making: a copy.
      model: this.buffer && this.global ? cloneModel(this.global) : this.global,
      optimizer: this.strategy.state(),
      ...(this.buffer && this.buffered ? { buffer: this.buffer.state(this.buffered.lastRounds(), this.buffered.lastDigests()) } : {}),
    };
  }

  /** The global model as it stands (after a close: the one it made). */
  globalModel(): Model | null {
    return this.global;
  }

  /** The final model to keep beside result.json: the global model of a job that succeeded. */
  finalModel(): Model | null {
    // SCAFFOLD's control variates are the aggregator's working state, not part of the model it made.
    return this.outcome?.succeeded && this.global ? withoutControlVariates(this.global) : null;
  }

  /** result.json of the ended job; `model` names the final model's file when there is one. */
  result(model: string | null, finishedAt: Date): JobResult {
    const outcome = this.outcome!;
    return {
      job: this.settings.job,
      namespace: this.settings.namespace,
      strategy: this.strategy.name,
      ...(this.settings.strategy.robust ? { robust: this.settings.strategy.robust } : {}),
      status: outcome.succeeded ? 'Succeeded' : 'Failed',
      reason: outcome.message,
      rounds: this.decidedHistory(),
      finalEvaluation: this.pending?.finalEvaluation ?? this.finalEvaluation,
      statistics: this.statistics ? [...this.statistics] : null,
      model,
      finishedAt: finishedAt.toISOString(),
      ...(this.privacy ? { privacy: this.privacy.summary() } : {}),
      ...(this.settings.secureAggregation ? { secureAggregation: secureSummary(this.settings.secureAggregation) } : {}),
      ...(this.settings.asynchronous ? { asynchronous: this.settings.asynchronous } : {}),
    };
  }

  /** How the job ends, once that is decided (announced or not). */
  private get outcome(): { succeeded: boolean; message: string } | null {
    return this.pending?.outcome ?? this.roundState.result;
  }

  private decidedHistory(): RoundRecord[] {
    return this.pending?.record ? [...this.history, this.pending.record] : this.history;
  }

  /** What has been announced: never ahead of what is durable. */
  progress(): JobProgress {
    const { namespace, job, rounds } = this.settings;
    return {
      namespace,
      job,
      rounds,
      position: this.roundState.position,
      result: this.roundState.result,
      history: this.history,
      finalEvaluation: this.finalEvaluation,
      privacy: this.privacy?.summary() ?? null,
    };
  }

  private async adopt(t: Close, now: number, aggregated: (seconds: number) => void): Promise<ClosedPhase> {
    switch (t.phase) {
      case 'INITIALIZE': {
        const model = await this.candidates.adopt(t.participants[0]!);
        this.global = model;
        this.sum = this.runningSum(model);
        if (this.settings.asynchronous) this.buffer = new UpdateBuffer(this.settings.asynchronous, model, this.settings.sites.length, null, now);
        this.modelVersion++;
        return { phase: 'INITIALIZE', tensors: model.length };
      }
      case 'STATISTICS':
        this.statistics = this.statisticsSum;
        this.statisticsSum = null;
        return { phase: 'STATISTICS', values: this.statistics?.length ?? 0 };
      case 'TRAIN': {
        if (this.buffer) return this.applyBuffer(t, now, aggregated);
        const record = this.ledger.record(t.round, t.attempt, t.startedAt, now);
        record.traffic = this.traffic.record(this.global!, record.participants.length, this.settings.compression);
        const started = performance.now();
        if (this.settings.secureAggregation) {
          // The sum of the survivors' clipped deltas: each weighs 1, as the aggregator never sees one alone.
          const secure = this.secureSum;
          if (!secure) throw new Error(`round ${t.round} closed under secure aggregation without a revealed sum`);
          this.strategy.step(this.global!, splitByTensors(secure.sum, this.global!), secure.count, secure.count);
          record.secureAggregation = secure.figures;
          this.secureSum = null;
        } else if (this.spilled) {
          // The robust delta is the server step's basis, as the weighted mean is otherwise.
          this.strategy.step(this.global!, await this.spilled.aggregate(this.global!), 1, record.sites.length);
          await this.spilled.reset();
        } else {
          const sum = this.sum!;
          this.strategy.step(this.global!, sum.weightedDeltaSums(), sum.totalWeight, record.sites.length);
          sum.reset();
        }
        aggregated((performance.now() - started) / 1000);
        if (this.privacy) record.privacy = this.privacy.closeRound();
        this.modelVersion++;
        if (!this.global!.every((tensor) => allFinite(tensor.data))) {
          throw new Error(`round ${t.round} made a global model with NaN or Infinity (strategy ${this.strategy.name}): lower the server learning rate`);
        }
        return { phase: 'TRAIN', record };
      }
      case 'EVALUATE': {
        const sites = this.ledger.sites();
        const tuned = sites.some((s) => s.fineTuned);
        const evaluation: FinalEvaluation = {
          eval: weightedFigures(sites.map((s) => s.eval)),
          sites: sites.map((s) => ({ site: s.site, eval: s.eval, ...(s.fineTuned ? { fineTuned: s.fineTuned } : {}) })),
          ...(tuned ? { fineTuned: weightedFigures(sites.map((s) => s.fineTuned ?? null)) } : {}),
        };
        return { phase: 'EVALUATE', evaluation };
      }
    }
  }

  private intakeFor(site: string, header: UpdateHeader__Output, journal: () => string): Intake {
    const entry = (numSamples: number, updateNorm?: number): SiteRound => ({
      site,
      numSamples,
      train: figuresOf(header.train),
      eval: figuresOf(header.eval),
      ...(updateNorm === undefined ? {} : { updateNorm }),
    });
    switch (header.kind) {
      case 'INITIALIZE': {
        const specs = initialModelSpecs(header, this.settings.maxUpdateBytes ?? MAX_INITIAL_MODEL_BYTES);
        return new InitialModelIntake(specs, journal(), (candidate) => this.candidates.add(site, candidate));
      }
      case 'STATISTICS': {
        const specs = specsOfHeader(header.model);
        const [spec] = specs;
        if (specs.length !== 1 || spec!.dtype !== 'F64' || spec!.shape.length !== 1) {
          throw new Refusal('wrong_shape', 'federated statistics travel as one F64 vector');
        }
        // The length follows from the spec's features, never from what another site sent.
        const length = this.statisticsLength!;
        if (spec!.shape[0] !== length) {
          throw new Refusal('wrong_shape', `the statistics vector has ${spec!.shape[0]} values; the job's features make ${length} (count, then a sum and a sum of squares per feature)`);
        }
        return new WholeIntake(specs, ([v]) => this.addStatistics(site, v as Float64Array), ([v]) => SiteRecords.checkStatistics(v as Float64Array));
      }
      case 'TRAIN': {
        if (this.settings.secureAggregation) throw new Refusal('wrong_phase', 'this job aggregates securely: a training update travels masked (SubmitMasked), never in the clear');
        if (!Number.isSafeInteger(header.numSamples) || header.numSamples <= 0 || header.numSamples > MAX_RECORDS) {
          throw new Refusal('invalid_header', `a training update needs num_samples from 1 to ${MAX_RECORDS} (its weight), not ${header.numSamples}`);
        }
        this.records.check(site, header);
        const global = this.global!;
        const specs = specsOfUpdate(header.model, specOf(global), this.settings.maxUpdateBytes ?? modelBytes(global));
        const compression = this.settings.compression;
        checkUploadEncoding(header, compression);
        if (this.buffer) {
          const replay = this.buffered!.isReplay(site);
          return new BufferedIntake(specs, this.buffer, entry(header.numSamples), header.round - 1, () => this.persistBuffer(), replay);
        }
        if (this.spilled) {
          const spill = new SpillIntake(specs, global, this.spilled, site, journal(), (norm) => this.ledger.add(entry(header.numSamples, norm)));
          return decodingIntake(spill, specs, compression, global);
        }
        // Under DP every update weighs 1: its influence is bounded by the clip norm, not by a count the site states.
        const weight = this.privacy ? 1 : header.numSamples;
        const normBound = this.settings.strategy.robust?.normBound;
        const clip = this.privacy?.clip() ?? (normBound === undefined ? undefined : { clipNorm: normBound, onNorm: () => {} });
        let norm: number | undefined;
        const heard = clip && { clipNorm: clip.clipNorm, onNorm: (n: number) => ((norm = n), clip.onNorm(n)) };
        const train = new TrainIntake(specs, this.sum!, weight, journal(), () => this.ledger.add(entry(header.numSamples, norm)), heard);
        return decodingIntake(train, specs, compression, global);
      }
      case 'EVALUATE':
        if (specsOfHeader(header.model).length > 0) throw new Refusal('wrong_shape', 'an evaluation carries figures only, no tensors');
        this.records.check(site, header);
        return new WholeIntake([], () => {
          const tuned = fineTunedOf(header.eval);
          this.ledger.add({ ...entry(0), ...(tuned ? { fineTuned: tuned } : {}) });
        });
      default:
        throw new Refusal('wrong_phase', `an update of kind ${header.kind} is not something sites send`);
    }
  }

  /** The number of values a secure round masks: every parameter of the model. */
  modelLength(): number {
    return this.global ? this.global.reduce((n, t) => n + t.data.length, 0) : 0;
  }

  /** A masked update's figures, checked as any update's are; the entry its site gets in the round's record. */
  secureEntry(site: string, header: UpdateHeader__Output): SiteRound {
    if (!Number.isSafeInteger(header.numSamples) || header.numSamples <= 0 || header.numSamples > MAX_RECORDS) {
      throw new Refusal('invalid_header', `a training update needs num_samples from 1 to ${MAX_RECORDS}, not ${header.numSamples}`);
    }
    if (specsOfHeader(header.model).length > 0) throw new Refusal('wrong_shape', 'a masked update carries figures only in its header: its model travels as masked words');
    this.records.check(site, header);
    return { site, numSamples: header.numSamples, train: figuresOf(header.train), eval: figuresOf(header.eval) };
  }

  /** The revealed sum of a secure round: the round closes with it (the ledger gets the survivors' entries). */
  acceptSecureSum(sum: Float64Array, entries: SiteRound[], figures: SecureRoundFigures): void {
    for (const entry of entries) this.ledger.add(entry);
    this.secureSum = { sum, count: entries.length, figures };
  }

  /** Makes a version from the buffer (asynchronous aggregation): the strategy steps along its staleness-weighted mean. */
  private applyBuffer(t: Close, now: number, aggregated: (seconds: number) => void): ClosedPhase {
    const started = performance.now();
    const record = this.buffer!.apply(this.global!, this.strategy, t.round, now);
    record.traffic = this.traffic.record(this.global!, record.participants.length, this.settings.compression);
    aggregated((performance.now() - started) / 1000);
    this.modelVersion++;
    if (!this.global!.every((tensor) => allFinite(tensor.data))) {
      throw new Error(`version ${t.round} made a global model with NaN or Infinity (strategy ${this.strategy.name}): lower asynchronous.serverLearningRate`);
    }
    return { phase: 'TRAIN', record };
  }

  private bufferedRounds(spec: NonNullable<JobSettings['asynchronous']>, checkpoint: Checkpoint | null, start: Position): BufferedRoundState {
    const buffer = {
      bufferSize: spec.bufferSize,
      maxStaleness: spec.maxStaleness,
      version: () => this.buffer?.current ?? 0,
      buffered: () => this.buffer?.size ?? 0,
      bufferedSites: () => this.buffer?.sites() ?? [],
      seal: () => this.buffer?.seal(),
    };
    const lastRound = new Map(Object.entries(checkpoint?.buffer?.lastRound ?? {}));
    const lastDigest = new Map(Object.entries(checkpoint?.buffer?.lastDigest ?? {}));
    return new BufferedRoundState(this.rules, buffer, lastRound, lastDigest, start, Date.now());
  }

  /** The weighted mean's running sum; none under a robust rule, whose updates are spilled instead. */
  private runningSum(global: Model): RunningSum | null {
    return this.spilled || this.settings.secureAggregation ? null : new RunningSum(global, this.settings.sites.length);
  }

  private addStatistics(site: string, vector: Float64Array): void {
    this.records.learn(site, vector[0]!);
    if (!this.statisticsSum) this.statisticsSum = new Float64Array(vector.length);
    for (let i = 0; i < vector.length; i++) this.statisticsSum[i]! += vector[i]!;
    this.ledger.add({ site, numSamples: 0, train: null, eval: null });
  }
}

function secureSummary(s: NonNullable<JobSettings['secureAggregation']>): SecureAggregationSummary {
  return { threshold: s.threshold, neighbours: s.neighbours ?? null, clippingRange: s.clip, stageTimeoutSeconds: s.stageTimeoutMs / 1000 };
}

/** A flat vector over the model's parameters, as per-tensor views. */
function splitByTensors(flat: Float64Array, model: Model): Float64Array[] {
  let at = 0;
  return model.map((t) => flat.subarray(at, (at += t.data.length)));
}
