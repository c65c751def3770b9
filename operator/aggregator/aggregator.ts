import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { modelBytes, specOf, tensorBytes, type Model } from '../federation/model.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { UpdateMessage__Output } from '../federation/proto.js';
import type { Task } from '../federation/generated/flotilla/federation/v1/Task.js';
import type { Logger } from '../log.js';
import { CheckpointStore } from './checkpoint.js';
import { TrainIntake, WholeIntake, checkHeaderFigures, sizeOf, specsOfHeader, specsOfUpdate, type Intake } from './intake.js';
import type { JobSettings } from './job-settings.js';
import type { AggregatorMetrics } from './metrics.js';
import { Refusal } from './refusal.js';
import { figuresOf, RoundLedger } from './round-figures.js';
import type { FinalEvaluation, RoundRecord, SiteRound } from './result.js';
import { RoundState, describePhase, type Position } from './round-state.js';
import { RunningSum } from './running-sum.js';
import { selectSites } from './selection.js';
import { createStrategy } from './strategies.js';
import type { Strategy } from './strategy.js';
import { taskOf } from './tasks.js';
import { PhaseCloser } from './phase-closer.js';

const TICK_MS = 200;
/** Longest a NextTask call is held, whatever the client asks. */
const MAX_WAIT_MS = 60_000;
/** Bounds the initial model when the job sets no aggregator.maxUpdateBytes (there is no model to compare with yet). */
const MAX_INITIAL_MODEL_BYTES = 4 * 2 ** 30;
const MAX_STATISTICS_BYTES = 64 << 20;

export interface JobOutcome {
  succeeded: boolean;
  message: string;
}

/** What the aggregator holds between phases; PhaseCloser reads and moves it. */
export interface AggregatorCore {
  readonly settings: JobSettings;
  readonly state: RoundState;
  readonly strategy: Strategy;
  readonly ledger: RoundLedger;
  readonly intakes: Map<string, Intake>;
  global: Model | null;
  sum: RunningSum | null;
  /** The initial model a site sent, adopted when initialization closes. */
  candidate: Model | null;
  /** The statistics phase's running sum, and the final sum once it closed. */
  statisticsSum: Float64Array | null;
  statistics: Float64Array | null;
  history: RoundRecord[];
  finalEvaluation: FinalEvaluation | null;
  /** Bumped whenever the global model changes, so a model being sent can tell it went stale. */
  modelVersion: number;
}

/**
 * One job's aggregator, minus the network: it answers the federation protocol's calls from a site
 * already identified by its certificate, keeps the round state machine moving on a timer, folds
 * updates in as they arrive, and hands phase closes to PhaseCloser (aggregate, checkpoint, advance).
 */
export class Aggregator implements AggregatorCore {
  readonly state: RoundState;
  readonly strategy: Strategy;
  readonly ledger = new RoundLedger();
  readonly intakes = new Map<string, Intake>();
  global: Model | null;
  sum: RunningSum | null;
  candidate: Model | null = null;
  statisticsSum: Float64Array | null = null;
  statistics: Float64Array | null;
  history: RoundRecord[];
  finalEvaluation: FinalEvaluation | null;
  modelVersion = 0;

  private readonly closer: PhaseCloser;
  private busy = false;
  private revisionSeen = -1;
  private wake = deferred<void>();
  private timer: NodeJS.Timeout | undefined;
  private journalCount = 0;
  private doneSince: number | null = null;
  /** Sites that have been told the job is over. */
  private readonly told = new Set<string>();
  private readonly outcome = deferred<JobOutcome>();

  static async open(settings: JobSettings, stateDir: string, metrics: AggregatorMetrics, log: Logger): Promise<Aggregator> {
    const store = new CheckpointStore(path.join(stateDir, 'checkpoint'), `${settings.namespace}/${settings.job}`);
    const checkpoint = await store.load();
    // Undo journals only matter to the process that wrote them.
    const journals = path.join(stateDir, 'journal');
    await rm(journals, { recursive: true, force: true });
    await mkdir(journals, { recursive: true });
    if (checkpoint) log.info('resuming from checkpoint', { phase: checkpoint.position.phase, round: checkpoint.position.round });
    return new Aggregator(settings, stateDir, store, checkpoint, metrics, log);
  }

  private constructor(
    readonly settings: JobSettings,
    private readonly stateDir: string,
    store: CheckpointStore,
    checkpoint: Awaited<ReturnType<CheckpointStore['load']>>,
    private readonly metrics: AggregatorMetrics,
    private readonly log: Logger,
  ) {
    const { sites, sitesPerRound, seed } = settings;
    const rules = { ...settings, select: (round: number, attempt: number) => selectSites(sites, sitesPerRound, seed, round, attempt) };
    const start: Position = checkpoint?.position ?? { phase: 'INITIALIZE', round: 0 };
    this.state = new RoundState(rules, start, Date.now());
    if (start.phase === 'DONE') this.state.finish(checkpoint?.outcome?.succeeded ?? false, checkpoint?.outcome?.message ?? 'ended');
    this.strategy = createStrategy(settings.strategy);
    this.strategy.restore(checkpoint?.optimizer ?? []);
    this.global = checkpoint?.model ?? null;
    this.sum = this.global ? new RunningSum(this.global) : null;
    this.statistics = checkpoint?.statistics ? Float64Array.from(checkpoint.statistics) : null;
    this.history = checkpoint?.history ?? [];
    this.finalEvaluation = checkpoint?.finalEvaluation ?? null;
    this.closer = new PhaseCloser(this, store, stateDir, metrics, log);
  }

  /** Starts the clock; resolves when the job is over and every site that could be told, was. */
  run(): Promise<JobOutcome> {
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.tick();
    return this.outcome.promise;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get position(): RoundState['position'] {
    return this.state.position;
  }

  seen(site: string): void {
    this.state.seen(site, Date.now());
  }

  /** NextTask: the site's task now, or after waiting up to waitMs for one. */
  async nextTask(site: string, waitMs: number, cancelled: () => boolean): Promise<Task> {
    const until = Date.now() + Math.min(waitMs, MAX_WAIT_MS);
    for (;;) {
      const task = taskOf(this.state.assignment(site, Date.now()), site, this.settings, this.strategy.proximalMu, this.global, this.statistics);
      if (task.kind === 'DONE') this.told.add(site);
      const left = until - Date.now();
      if (task.kind !== 'WAIT' || left <= 0 || cancelled()) return task;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.wake.promise, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
  }

  /** FetchModel: the global model of the current round, and its version for isCurrent(). */
  modelFor(site: string, round: number): { model: Model; version: number } {
    this.seen(site);
    const { phase, round: current, closing } = this.state.position;
    if (!this.global || (phase !== 'TRAIN' && phase !== 'EVALUATE') || closing || round !== current) {
      throw new Refusal('stale_round', `no global model for round ${round} now: the aggregator is in ${describePhase(phase, current)}; ask NextTask for work`);
    }
    return { model: this.global, version: this.modelVersion };
  }

  isCurrent(version: number): boolean {
    return version === this.modelVersion && !this.state.position.closing;
  }

  heartbeat(site: string, round: number): boolean {
    this.seen(site);
    return this.state.isOpenFor(site, round);
  }

  /** SubmitUpdate: takes a whole update in, or refuses it leaving the round as it was. */
  async submit(site: string, messages: AsyncIterable<UpdateMessage__Output>): Promise<{ round: number; bytesReceived: number }> {
    const iterator = messages[Symbol.asyncIterator]();
    const first = await iterator.next();
    const header = first.done ? null : first.value.header;
    if (!header) throw new Refusal('malformed_stream', 'an update stream starts with its UpdateHeader');
    checkHeaderFigures(header);
    this.state.admit(site, header.kind, header.round, header.attempt, Date.now());
    let intake: Intake;
    try {
      intake = this.intakeFor(site, header);
    } catch (err) {
      this.state.release(site);
      throw err;
    }
    this.intakes.set(site, intake);
    let bytes = 0;
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        const chunk = next.value.chunk;
        if (!chunk) throw new Refusal('malformed_stream', 'a second UpdateHeader in one update stream');
        this.seen(site);
        intake.take(chunk);
        bytes += chunk.data.byteLength;
        this.metrics.bytesReceived.inc(chunk.data.byteLength);
        await intake.drained();
      }
      intake.finish();
      if (this.intakes.get(site) !== intake) throw new Refusal('stale_round', 'the phase closed while this update arrived');
      this.state.accept(site, Date.now());
      intake.commit();
    } catch (err) {
      // Still listed while it is undone, so that a phase closing meanwhile waits for the undo.
      await intake.undo();
      if (this.intakes.get(site) === intake) {
        this.intakes.delete(site);
        this.state.release(site);
      }
      throw err;
    }
    this.intakes.delete(site);
    this.metrics.updatesAccepted.inc();
    setImmediate(() => this.tick());
    await intake.cleanup();
    return { round: header.round, bytesReceived: bytes };
  }

  private intakeFor(site: string, header: UpdateHeader__Output): Intake {
    const entry = (numSamples: number): SiteRound => ({ site, numSamples, train: figuresOf(header.train), eval: figuresOf(header.eval) });
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
        const journal = path.join(this.stateDir, 'journal', `${site}.${++this.journalCount}.undo`);
        return new TrainIntake(specs, this.sum!, header.numSamples, journal, () => this.ledger.add(entry(header.numSamples)));
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

  /** Moves time on: drops silent sites, closes, retries or fails phases, and ends the run when done. */
  private tick(): void {
    if (this.busy) return;
    const now = Date.now();
    const transition = this.state.tick(now);
    if (transition) {
      this.busy = true;
      void this.closer.carryOut(transition).finally(() => {
        this.busy = false;
        this.tick();
      });
    }
    if (this.state.revision !== this.revisionSeen) {
      this.revisionSeen = this.state.revision;
      const { phase, round } = this.state.position;
      this.metrics.round.set(phase === 'DONE' ? this.settings.rounds : round);
      const wake = this.wake;
      this.wake = deferred();
      wake.resolve();
    }
    const result = this.state.result;
    if (result && !this.busy) {
      this.doneSince ??= now;
      const everyoneTold = this.settings.sites.every((s) => this.told.has(s));
      if (everyoneTold || now - this.doneSince >= Math.min(this.settings.heartbeatTimeoutMs, 30_000)) {
        this.stop();
        this.outcome.resolve(result);
      }
    }
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
