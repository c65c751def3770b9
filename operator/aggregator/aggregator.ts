import type { RoundTraffic } from './round-traffic.js';
import type { Encoding } from '../federation/compression.js';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import type { Model } from '../federation/model.js';
import type { UpdateMessage__Output } from '../federation/proto.js';
import type { Task } from '../federation/generated/flotilla/federation/v1/Task.js';
import type { Logger } from '../log.js';
import { faultPoint } from '../process/fault-points.js';
import { removeStaleTemporaries } from '../process/atomic-file.js';
import { AUDIT_FILE, AggregatorAudit, UpdateReceipt } from './audit.js';
import { lostUpdates } from './lost-updates.js';
import { CheckpointStore } from './checkpoint.js';
import { checkHeaderFigures, type Intake } from './intake.js';
import { JobState, type JobProgress } from './job-state.js';
import type { JobSettings } from './job-settings.js';
import type { AggregatorMetrics } from './metrics.js';
import { Refusal } from './refusal.js';
import type { RoundState } from './round-state.js';
import { PhaseCloser } from './phase-closer.js';
import { figuresOf } from './round-figures.js';
import { SecureIntake } from './secure-intake.js';
import type { MaskedMessage__Output } from '../federation/generated/flotilla/federation/v1/MaskedMessage.js';
import type { SecAggRequest__Output } from '../federation/generated/flotilla/federation/v1/SecAggRequest.js';
import type { SecAggResponse } from '../federation/generated/flotilla/federation/v1/SecAggResponse.js';

const TICK_MS = 200;
/** Longest a NextTask call is held, whatever the client asks. */
const MAX_WAIT_MS = 60_000;

export interface JobOutcome {
  succeeded: boolean;
  message: string;
}

/**
 * One job's aggregator, minus the network: it answers the federation protocol's calls from a site
 * already identified by its certificate, keeps the round state machine moving on a timer, folds
 * updates in as they arrive, and hands phase closes to PhaseCloser (aggregate, checkpoint, advance).
 * What it holds of the job, JobState holds.
 */
export class Aggregator {
  private readonly job: JobState;
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

  /** Under secure aggregation: its rounds (null without). */
  private readonly secure: SecureIntake | null;

  /** `jobCaPem`: the job's CA, which secure aggregation checks the sites' signed keys against. */
  static async open(settings: JobSettings, stateDir: string, metrics: AggregatorMetrics, log: Logger, jobCaPem?: string): Promise<Aggregator> {
    const store = new CheckpointStore(path.join(stateDir, 'checkpoint'), `${settings.namespace}/${settings.job}`);
    // One aggregator per state dir: what a crash left half-written is nobody's.
    const stale = [...(await removeStaleTemporaries(stateDir)), ...(await removeStaleTemporaries(store.dir))];
    if (stale.length > 0) log.info('removed temporary files a crash left', { files: stale });
    const checkpoint = await store.load();
    // Undo journals only matter to the process that wrote them.
    const journals = path.join(stateDir, 'journal');
    await rm(journals, { recursive: true, force: true });
    await mkdir(journals, { recursive: true });
    if (checkpoint) log.info('resuming from checkpoint', { phase: checkpoint.position.phase, round: checkpoint.position.round });
    const audit = await AggregatorAudit.open(stateDir, log);
    await audit.started(settings, checkpoint?.position ?? null);
    if (settings.asynchronous) {
      const trail = await readFile(path.join(stateDir, AUDIT_FILE), 'utf8');
      for (const update of lostUpdates(trail, checkpoint)) await audit.lost(update);
    }
    if (settings.secureAggregation && !jobCaPem) throw new Error("secure aggregation needs the job's CA certificate");
    return new Aggregator(settings, stateDir, store, checkpoint, audit, metrics, log, jobCaPem ?? '');
  }

  private constructor(
    private readonly settings: JobSettings,
    private readonly stateDir: string,
    store: CheckpointStore,
    checkpoint: Awaited<ReturnType<CheckpointStore['load']>>,
    /** The job's audit trail: what came in, what was decided. */
    readonly audit: AggregatorAudit,
    private readonly metrics: AggregatorMetrics,
    private readonly log: Logger,
    jobCaPem: string,
  ) {
    this.job = new JobState(settings, checkpoint);
    this.secure = settings.secureAggregation ? new SecureIntake(settings, this.job, jobCaPem, stateDir, audit, metrics, log) : null;
    this.closer = new PhaseCloser(this.job, store, stateDir, audit, metrics, log);
    this.job.persistBuffer = () => this.closer.checkpoint();
    const rounds = this.job.roundState;
    metrics.watch({
      deadline: () => rounds.deadlineAt,
      awaited: () => rounds.awaited,
      lastSeen: (site) => rounds.lastSeenAt(site),
    });
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
    return this.job.roundState.position;
  }

  /** What /status reports. */
  progress(): JobProgress {
    return this.job.progress();
  }

  seen(site: string): void {
    this.job.roundState.seen(site, Date.now());
  }

  /** NextTask: the site's task now, or after waiting up to waitMs for one. */
  async nextTask(site: string, waitMs: number, cancelled: () => boolean): Promise<Task> {
    const until = Date.now() + Math.min(waitMs, MAX_WAIT_MS);
    for (;;) {
      let task = this.job.taskFor(site, Date.now());
      if (this.secure && task.kind === 'TRAIN') {
        // A secure round's parameters come with its task; until the round exists, there is none.
        const secagg = this.secure.paramsFor(task.round!, task.attempt!);
        task = secagg ? { ...task, secagg } : { kind: 'WAIT' };
      }
      if (task.kind === 'DONE') {
        await faultPoint(`job end told${task.succeeded ? ' (succeeded)' : ''}`);
        this.told.add(site);
      }
      const left = until - Date.now();
      if (task.kind !== 'WAIT' || left <= 0 || cancelled()) return task;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.wake.promise, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
  }

  /** FetchModel: the global model of the current round, and its version for isCurrent(). */
  modelFor(site: string, round: number): { model: Model; version: number; encoding: Encoding } {
    this.seen(site);
    return this.job.modelFor(round);
  }

  isCurrent(version: number): boolean {
    return this.job.isCurrent(version);
  }

  /** The round in flight's bytes on the wire. */
  get traffic(): RoundTraffic {
    return this.job.traffic;
  }

  heartbeat(site: string, round: number): boolean {
    this.seen(site);
    return this.job.roundState.isOpenFor(site, round);
  }

  /**
   * SubmitUpdate: takes a whole update in, or refuses it leaving the round as it was. Either way the
   * audit trail records it, with the bytes received and their SHA-256, before the site hears.
   */
  async submit(site: string, messages: AsyncIterable<UpdateMessage__Output>): Promise<{ round: number; bytesReceived: number }> {
    const receipt = new UpdateReceipt();
    try {
      return await this.receive(site, messages, receipt);
    } catch (err) {
      await this.audit.refused(site, receipt, err);
      throw err;
    }
  }

  private async receive(site: string, messages: AsyncIterable<UpdateMessage__Output>, receipt: UpdateReceipt): Promise<{ round: number; bytesReceived: number }> {
    const iterator = messages[Symbol.asyncIterator]();
    const first = await iterator.next();
    const header = first.done ? null : first.value.header;
    if (!header) throw new Refusal('malformed_stream', 'an update stream starts with its UpdateHeader');
    receipt.header = header;
    checkHeaderFigures(header);
    const rounds = this.job.roundState;
    rounds.admit(site, header.kind, header.round, header.attempt, Date.now());
    const started = performance.now();
    let intake: Intake;
    try {
      intake = this.job.openIntake(site, header, () => path.join(this.stateDir, 'journal', `${site}.${++this.journalCount}.undo`));
    } catch (err) {
      rounds.release(site);
      throw err;
    }
    let recorded: Promise<void>;
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        const chunk = next.value.chunk;
        if (!chunk) throw new Refusal('malformed_stream', 'a second UpdateHeader in one update stream');
        this.seen(site);
        receipt.content.add(chunk.data);
        intake.take(chunk);
        this.metrics.bytesReceived.inc({ site }, chunk.data.byteLength);
        if (header.kind === 'TRAIN') this.job.traffic.received(chunk.data.byteLength);
        await intake.drained();
      }
      await intake.finish();
      if (!this.job.holdsIntake(site, intake)) throw new Refusal('stale_round', 'the phase closed while this update arrived');
      rounds.accept(site, Date.now(), intake.digest);
      intake.commit();
      // In the same tick as the commit: the entry comes before that of any close that folds it.
      recorded = this.audit.accepted(site, receipt);
    } catch (err) {
      // Still listed while it is undone, so that a phase closing meanwhile waits for the undo.
      await intake.undo();
      if (this.job.holdsIntake(site, intake)) {
        this.job.closeIntake(site);
        rounds.release(site);
      }
      throw err;
    }
    this.job.closeIntake(site);
    this.metrics.accepted(site, { kind: header.kind, numSamples: header.numSamples, eval: figuresOf(header.eval) }, (performance.now() - started) / 1000);
    setImmediate(() => this.tick());
    // An accepted update the trail could not record stops the aggregator (audit.broken); the site is not told it was taken.
    await recorded;
    await faultPoint('update accepted');
    await intake.cleanup();
    return { round: header.round, bytesReceived: receipt.content.bytes };
  }

  /** SecAgg: one site's step of the attempt's secure aggregation. */
  secAgg(site: string, request: SecAggRequest__Output, cancelled: () => boolean): Promise<SecAggResponse> {
    if (!this.secure) throw new Refusal('wrong_phase', 'this job does not aggregate securely (spec.secureAggregation)');
    const answer = this.secure.call(site, request, () => this.seen(site), cancelled);
    setImmediate(() => this.tick());
    return answer;
  }

  /** SubmitMasked: a site's masked update of a secure round. */
  async submitMasked(site: string, messages: AsyncIterable<MaskedMessage__Output>): Promise<{ round: number; bytesReceived: number }> {
    if (!this.secure) throw new Refusal('wrong_phase', 'this job does not aggregate securely (spec.secureAggregation): send updates with SubmitUpdate');
    const received = await this.secure.submit(site, messages, () => this.seen(site));
    setImmediate(() => this.tick());
    return received;
  }

  /** Moves time on: drops silent sites, closes, retries or fails phases, and ends the run when done. */
  private tick(): void {
    if (this.busy) return;
    const now = Date.now();
    const rounds = this.job.roundState;
    this.secure?.tick(now);
    const transition = rounds.tick(now);
    for (const { site, silentMs, phase, round, attempt } of rounds.takeSilent()) {
      this.log.warn(`site ${site} dropped from ${phase} round ${round}: silent for ${(silentMs / 1000).toFixed(1)}s`, { site, phase, round, attempt, reason: 'silent' });
    }
    if (transition) {
      this.busy = true;
      void this.closer.carryOut(transition).finally(() => {
        this.busy = false;
        this.tick();
      });
    }
    // A new task for some site: the round state moved on, or the secure round its TRAIN tasks wait for opened.
    const revision = rounds.revision + (this.secure?.opened ?? 0);
    if (revision !== this.revisionSeen) {
      this.revisionSeen = revision;
      const { phase, round } = rounds.position;
      this.metrics.round.set(phase === 'DONE' ? this.settings.rounds : round);
      const wake = this.wake;
      this.wake = deferred();
      wake.resolve();
    }
    const result = rounds.result;
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
