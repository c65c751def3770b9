import { performance } from 'node:perf_hooks';
import { allFinite } from '../federation/finite.js';
import { modelBytes, specOf, tensorBytes, type Model } from '../federation/model.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { Task } from '../federation/generated/flotilla/federation/v1/Task.js';
import type { Checkpoint } from './checkpoint.js';
import { TrainIntake, WholeIntake, sizeOf, specsOfHeader, specsOfUpdate, type Intake } from './intake.js';
import type { JobSettings } from './job-settings.js';
import { Refusal } from './refusal.js';
import { figuresOf, RoundLedger, weightedFigures } from './round-figures.js';
import type { FinalEvaluation, JobResult, PrivacySummary, RoundRecord, SiteRound } from './result.js';
import { RoundState, describePhase, type Position, type Transition } from './round-state.js';
import { RunningSum } from './running-sum.js';
import { poissonSample } from '../privacy/site-sampling.js';
import { RoundPrivacy } from './round-privacy.js';
import { selectSites } from './selection.js';
import { createStrategy } from './strategies.js';
import type { Strategy } from './strategy.js';
import { taskOf } from './tasks.js';

/** Bounds the initial model when the job sets no aggregator.maxUpdateBytes (there is no model to compare with yet). */
const MAX_INITIAL_MODEL_BYTES = 4 * 2 ** 30;
const MAX_STATISTICS_BYTES = 64 << 20;

type Close = Extract<Transition, { kind: 'close' }>;

/** What a phase's close did, for the closer's logs and metrics. */
export type ClosedPhase =
  | { phase: 'INITIALIZE'; tensors: number }
  | { phase: 'STATISTICS'; values: number }
  | { phase: 'TRAIN'; record: RoundRecord }
  | { phase: 'EVALUATE'; evaluation: FinalEvaluation };

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
  private readonly ledger = new RoundLedger();
  /** Updates arriving now, by site. */
  private readonly intakes = new Map<string, Intake>();
  private global: Model | null;
  private sum: RunningSum | null;
  /** The initial model a site sent, adopted when initialization closes. */
  private candidate: Model | null = null;
  /** The statistics phase's running sum, and the final sum once it closed. */
  private statisticsSum: Float64Array | null = null;
  private statistics: Float64Array | null;
  private readonly history: RoundRecord[];
  private finalEvaluation: FinalEvaluation | null;
  /** Bumped whenever the global model changes, so a model being sent can tell it went stale. */
  private modelVersion = 0;

  constructor(
    readonly settings: JobSettings,
    checkpoint: Checkpoint | null,
  ) {
    const { sites, sitesPerRound, seed } = settings;
    this.history = checkpoint?.history ?? [];
    const privacy = settings.privacy ? new RoundPrivacy(settings.privacy, this.history) : null;
    this.privacy = privacy;
    const poisson = settings.privacy?.sampling.mode === 'Poisson' ? settings.privacy.sampling.rate : undefined;
    const rules = {
      ...settings,
      select: (round: number, attempt: number) =>
        poisson === undefined ? selectSites(sites, sitesPerRound, seed, round, attempt) : poissonSample(sites, poisson),
      trainQuorum: poisson === undefined ? undefined : 0,
      stopBefore: privacy ? (round: number) => privacy.stopBefore(round) : undefined,
    };
    const start: Position = checkpoint?.position ?? { phase: 'INITIALIZE', round: 0 };
    this.roundState = new RoundState(rules, start, Date.now());
    if (start.phase === 'DONE') this.roundState.finish(checkpoint?.outcome?.succeeded ?? false, checkpoint?.outcome?.message ?? 'ended');
    this.strategy = privacy ? privacy.strategy(createStrategy(settings.strategy)) : createStrategy(settings.strategy);
    this.strategy.restore(checkpoint?.optimizer ?? []);
    this.global = checkpoint?.model ?? null;
    this.sum = this.global ? new RunningSum(this.global) : null;
    this.statistics = checkpoint?.statistics ? Float64Array.from(checkpoint.statistics) : null;
    this.finalEvaluation = checkpoint?.finalEvaluation ?? null;
  }

  /** The site's task now, from the state alone. */
  taskFor(site: string, now: number): Task {
    return taskOf(this.roundState.nextStep(site, now), site, this.settings, this.strategy.proximalMu, this.global, this.statistics);
  }

  /** The global model of the current round, and its version for isCurrent(). */
  modelFor(round: number): { model: Model; version: number } {
    const { phase, round: current, closing } = this.roundState.position;
    if (!this.global || (phase !== 'TRAIN' && phase !== 'EVALUATE') || closing || round !== current) {
      throw new Refusal('stale_round', `no global model for round ${round} now: the aggregator is in ${describePhase(phase, current)}; ask NextTask for work`);
    }
    return { model: this.global, version: this.modelVersion };
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
    const intakes = [...this.intakes.values()];
    this.intakes.clear();
    return Promise.all(intakes.map((intake) => intake.revoke(sumsDiscarded)));
  }

  /**
   * Closes the phase: adopts what it collected (the initial model, the statistics, the next global
   * model, the final evaluation) and moves the round state on. Throws, leaving the phase where it
   * was, when a round made a model that is not finite. `aggregated` hears how long a round's
   * strategy step took.
   */
  close(t: Close, now: number, aggregated: (seconds: number) => void): ClosedPhase {
    const closed = this.adopt(t, now, aggregated);
    this.ledger.clear();
    this.roundState.advance(Date.now());
    return closed;
  }

  /** Forgets every update of the attempt, arrived or arriving. */
  async discardAttempt(): Promise<void> {
    // Revoke before resetting, in the same tick: no chunk of an old update may land in the new sum.
    const revoked = this.revokeIntakes(true);
    this.sum?.reset();
    this.statisticsSum = null;
    this.candidate = null;
    this.ledger.clear();
    this.privacy?.discardAttempt();
    await revoked;
  }

  /** Ends the job, unless it has ended already. */
  failUnlessEnded(message: string): void {
    if (!this.roundState.result) this.roundState.finish(false, message);
  }

  checkpoint(): Checkpoint {
    const { phase, round } = this.roundState.position;
    return {
      position: { phase, round },
      outcome: this.roundState.result,
      statistics: this.statistics ? [...this.statistics] : null,
      history: this.history,
      finalEvaluation: this.finalEvaluation,
      model: this.global,
      optimizer: this.strategy.state(),
    };
  }

  /** The final model to keep beside result.json: the global model of a job that succeeded. */
  finalModel(): Model | null {
    return this.roundState.result?.succeeded ? this.global : null;
  }

  /** result.json of the ended job; `model` names the final model's file when there is one. */
  result(model: string | null, finishedAt: Date): JobResult {
    const outcome = this.roundState.result!;
    return {
      job: this.settings.job,
      namespace: this.settings.namespace,
      strategy: this.strategy.name,
      status: outcome.succeeded ? 'Succeeded' : 'Failed',
      reason: outcome.message,
      rounds: this.history,
      finalEvaluation: this.finalEvaluation,
      statistics: this.statistics ? [...this.statistics] : null,
      model,
      finishedAt: finishedAt.toISOString(),
      ...(this.privacy ? { privacy: this.privacy.summary() } : {}),
    };
  }

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

  private adopt(t: Close, now: number, aggregated: (seconds: number) => void): ClosedPhase {
    switch (t.phase) {
      case 'INITIALIZE': {
        const model = this.candidate!;
        this.global = model;
        this.sum = new RunningSum(model);
        this.candidate = null;
        this.modelVersion++;
        return { phase: 'INITIALIZE', tensors: model.length };
      }
      case 'STATISTICS':
        this.statistics = this.statisticsSum;
        this.statisticsSum = null;
        return { phase: 'STATISTICS', values: this.statistics?.length ?? 0 };
      case 'TRAIN': {
        const record = this.ledger.record(t.round, t.attempt, t.startedAt, now);
        const sum = this.sum!;
        const started = performance.now();
        this.strategy.step(this.global!, sum.sums, sum.totalWeight);
        aggregated((performance.now() - started) / 1000);
        if (this.privacy) record.privacy = this.privacy.closeRound();
        sum.reset();
        this.modelVersion++;
        if (!this.global!.every((tensor) => allFinite(tensor.data))) {
          throw new Error(`round ${t.round} made a global model with NaN or Infinity (strategy ${this.strategy.name}): lower the server learning rate`);
        }
        this.history.push(record);
        return { phase: 'TRAIN', record };
      }
      case 'EVALUATE': {
        const sites = this.ledger.sites();
        this.finalEvaluation = { eval: weightedFigures(sites.map((s) => s.eval)), sites: sites.map((s) => ({ site: s.site, eval: s.eval })) };
        return { phase: 'EVALUATE', evaluation: this.finalEvaluation };
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
        const specs = specsOfHeader(header.model);
        const bytes = specs.reduce((n, s) => n + tensorBytes(s), 0);
        const max = this.settings.maxUpdateBytes ?? MAX_INITIAL_MODEL_BYTES;
        const f64 = specs.find((s) => s.dtype !== 'F32');
        if (specs.length === 0) throw new Refusal('wrong_shape', 'the initial model has no tensors');
        if (f64) throw new Refusal('wrong_shape', `the initial model's tensor ${f64.name} is ${f64.dtype}: models are F32`);
        if (bytes > max) throw new Refusal('too_large', `the initial model holds ${sizeOf(bytes)}, more than the ${sizeOf(max)} allowed`);
        return new WholeIntake(specs, (arrays) => {
          this.candidate = specs.map((s, i) => ({ name: s.name, shape: s.shape, data: arrays[i] as Float32Array }));
        });
      }
      case 'STATISTICS': {
        const specs = specsOfHeader(header.model);
        const [spec] = specs;
        if (specs.length !== 1 || spec!.dtype !== 'F64' || spec!.shape.length !== 1) {
          throw new Refusal('wrong_shape', 'federated statistics travel as one F64 vector');
        }
        if (tensorBytes(spec!) > MAX_STATISTICS_BYTES) throw new Refusal('too_large', `a statistics vector of ${sizeOf(tensorBytes(spec!))} is too large`);
        const sameLength = (length: number) => {
          if (this.statisticsSum && this.statisticsSum.length !== length) {
            throw new Refusal('wrong_shape', `the statistics vector has ${length} values; other sites sent ${this.statisticsSum.length}`);
          }
        };
        sameLength(spec!.shape[0]!);
        // Checked again whole: another site's vector may have set the length meanwhile.
        return new WholeIntake(specs, ([v]) => this.addStatistics(site, v as Float64Array), ([v]) => sameLength(v!.length));
      }
      case 'TRAIN': {
        if (!Number.isSafeInteger(header.numSamples) || header.numSamples <= 0) {
          throw new Refusal('invalid_header', `a training update needs num_samples > 0 (its weight), not ${header.numSamples}`);
        }
        const global = this.global!;
        const specs = specsOfUpdate(header.model, specOf(global), this.settings.maxUpdateBytes ?? modelBytes(global));
        // Under DP every update weighs 1: its influence is bounded by the clip norm, not by a count the site states.
        const weight = this.privacy ? 1 : header.numSamples;
        const clip = this.privacy?.clip();
        let norm: number | undefined;
        const heard = clip && { clipNorm: clip.clipNorm, onNorm: (n: number) => ((norm = n), clip.onNorm(n)) };
        return new TrainIntake(specs, this.sum!, weight, journal(), () => this.ledger.add(entry(header.numSamples, norm)), heard);
      }
      case 'EVALUATE':
        if (specsOfHeader(header.model).length > 0) throw new Refusal('wrong_shape', 'an evaluation carries figures only, no tensors');
        return new WholeIntake([], () => this.ledger.add(entry(0)));
      default:
        throw new Refusal('wrong_phase', `an update of kind ${header.kind} is not something sites send`);
    }
  }

  private addStatistics(site: string, vector: Float64Array): void {
    if (!this.statisticsSum) this.statisticsSum = new Float64Array(vector.length);
    for (let i = 0; i < vector.length; i++) this.statisticsSum[i]! += vector[i]!;
    this.ledger.add({ site, numSamples: 0, train: null, eval: null });
  }
}
