import { status, type ServiceError } from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { specOf, type Model } from '../federation/model.js';
import { StreamError, fromWireHeader, toWireHeader, type Values } from '../federation/tensor-stream.js';
import type { Task__Output } from '../federation/generated/flotilla/federation/v1/Task.js';
import type { Metrics as WireMetrics } from '../federation/generated/flotilla/federation/v1/Metrics.js';
import type { UpdateHeader } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { SubmitUpdateResponse__Output } from '../federation/generated/flotilla/federation/v1/SubmitUpdateResponse.js';
import type { Logger } from '../log.js';
import type { Metrics, Trainer } from '../trainer/trainer.js';
import { Backoff } from '../process/backoff.js';
import { localPrivateUpdate } from '../privacy/local-update.js';
import type { PrivacyPlan } from '../privacy/job-plan.js';
import type { AggregatorConnection } from './connection.js';
import type { ClientAudit } from './audit.js';
import type { Heartbeating } from './heartbeat-thread.js';
import { fineTuned, withFineTuned, type Personalization } from './personalization.js';
import type { WireChunk } from '../federation/chunk.js';
import { NO_COMPRESSION, type JobCompression } from '../federation/compression.js';
import { encodeUpload } from './upload-encoding.js';
import { ResidualStore } from './residual-store.js';
import { SecAggRefusal } from '../secagg/errors.js';
import { SecureTraining, type SecureSite } from './secure-training.js';

export interface ClientOutcome {
  succeeded: boolean;
  message: string;
}

export interface TaskLoopOptions {
  clientVersion: string;
  /** How long a NextTask call may wait at the aggregator. */
  pollMs?: number;
  /** Give up when the aggregator has been unreachable this long. */
  giveUpAfterMs?: number;
  signal?: AbortSignal;
  /** The job's differential privacy; with mode Local the site clips and noises its update before it leaves. */
  privacy?: PrivacyPlan | null;
  /** How heartbeats go on while the trainer works: from a thread of their own in a client (HeartbeatThread); a timer on this thread by default. */
  heartbeats?: Heartbeating;
  /** The site's audit trail: each update is recorded there before it leaves, and how it was answered. */
  audit?: ClientAudit;
  /** spec.personalization: the final model is also fine-tuned here, and both figures reported. */
  personalization?: Personalization;
  /** Where top-k's residual is kept across restarts (in memory only without it). */
  residualFile?: string;
  /** Under secure aggregation (spec.secureAggregation): who this site is and the keys it signs with. */
  secure?: SecureSite;
  /**
   * Under asynchronous aggregation (spec.asynchronous): a training update whose answer was lost (the
   * aggregator restarted) is sent again, the same bytes, once the aggregator is back; it answers a
   * copy of an update it holds as taken. Synchronous rounds re-run the round instead.
   */
  resendLostUpdates?: boolean;
}

/** Codes after which the call is simply tried again once the aggregator is back. */
const TRANSIENT = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.INTERNAL, status.UNKNOWN, status.ABORTED]);
/** Pause before asking again about a task whose update the aggregator refused. */
const REFUSED_PAUSE_MS = 2_000;

function codeOf(err: unknown): status | undefined {
  return typeof (err as ServiceError)?.code === 'number' ? (err as ServiceError).code : undefined;
}

function wire(m: Metrics): WireMetrics {
  return { numSamples: m.numSamples, loss: m.loss, accuracy: m.accuracy, extra: m.extra ?? {} };
}

/** The job's compression as the task tells it; none from an aggregator that says nothing of it. */
function compressionOf(task: Task__Output): JobCompression {
  const c = task.compression;
  return c ? { download: c.download, upload: c.upload, topKFraction: c.topKFraction } : NO_COMPRESSION;
}

const megabytesPerSecond = (bytes: number, ms: number) => Math.round((bytes / 1e6 / Math.max(ms, 1)) * 1e3 * 10) / 10;
const modelBytes = (model: Model) => model.reduce((n, t) => n + t.data.byteLength, 0);

/**
 * A site's run of a job: ask the aggregator what to do, do it, say so, until the job is over. Every
 * step starts from NextTask, which the aggregator computes from its state alone, so after a lost
 * connection or an aggregator restart the site simply asks again. Log lines are its progress events.
 */
export class TaskLoop {
  private statisticsUsed = false;
  private heartbeatMs = 10_000;
  private readonly residuals: ResidualStore;
  private readonly secure: SecureTraining | null;
  /** A training update whose answer was lost, to send again (resendLostUpdates). */
  private unanswered: { header: UpdateHeader; arrays: readonly Values[] } | null = null;

  constructor(
    private readonly connection: AggregatorConnection,
    private readonly trainer: Trainer,
    private readonly log: Logger,
    private readonly options: TaskLoopOptions,
  ) {
    this.residuals = new ResidualStore(options.residualFile);
    this.secure = options.secure ? new SecureTraining(connection, options.secure, log, options.audit) : null;
  }

  async run(): Promise<ClientOutcome> {
    const { signal, pollMs = 30_000, giveUpAfterMs = 10 * 60_000 } = this.options;
    const backoff = new Backoff();
    let joined = false;
    let lastContact = Date.now();
    let refused: string | null = null;
    for (;;) {
      if (signal?.aborted) return { succeeded: false, message: 'the client was stopped' };
      let current: string | null = null;
      try {
        if (!joined) {
          const joinedAs = await this.connection.join(this.options.clientVersion);
          this.heartbeatMs = joinedAs.heartbeatIntervalMs || this.heartbeatMs;
          joined = true;
          this.log.info('joined', { rounds: joinedAs.rounds, heartbeatIntervalMs: this.heartbeatMs });
        }
        if (this.unanswered) await this.resend();
        const task = await this.connection.nextTask(pollMs);
        lastContact = Date.now();
        backoff.reset();
        if (task.statistics.length > 0 && !this.statisticsUsed) {
          this.trainer.useStatistics(Float64Array.from(task.statistics));
          this.statisticsUsed = true;
        }
        if (task.kind === 'DONE') {
          this.log.info("job over", { succeeded: task.succeeded, outcome: task.message });
          return { succeeded: task.succeeded, message: task.message };
        }
        if (task.kind === 'WAIT') continue;
        current = `${task.kind}/${task.round}/${task.attempt}`;
        if (current === refused) {
          await sleep(REFUSED_PAUSE_MS);
          continue;
        }
        await this.perform(task);
      } catch (err) {
        const code = codeOf(err);
        if (err instanceof StreamError || (code !== undefined && TRANSIENT.has(code))) {
          if (Date.now() - lastContact > giveUpAfterMs) {
            return { succeeded: false, message: `the aggregator was unreachable for ${giveUpAfterMs / 1000}s: ${(err as Error).message}` };
          }
          joined = false;
          const waitMs = Math.round(backoff.next());
          this.log.warn('aggregator unreachable; trying again', { code: code === undefined ? undefined : status[code], error: (err as Error).message, waitMs });
          await sleep(waitMs);
        } else if (code === status.FAILED_PRECONDITION || code === status.ALREADY_EXISTS) {
          this.log.info('task no longer current; asking again', { task: current, reason: (err as Error).message });
        } else if (err instanceof SecAggRefusal) {
          // What the aggregator relayed does not check out (a forged key, a wrong directory): this site sits the attempt out.
          this.log.error('secure aggregation refused by this site', { task: current, reason: err.message });
          refused = current;
        } else if (code === status.INVALID_ARGUMENT || code === status.RESOURCE_EXHAUSTED) {
          this.log.error('the aggregator refused the update', { task: current, code: status[code], reason: (err as ServiceError).details });
          refused = current;
        } else {
          throw err;
        }
      }
    }
  }

  private async perform(task: Task__Output): Promise<void> {
    const { kind, round, attempt } = task;
    this.log.info('task', { kind, round, attempt });
    switch (kind) {
      case 'INITIALIZE': {
        const { value: model } = await this.heartbeating(round, () => this.trainer.initialize(task.params!.seed));
        await this.send({ kind, round, attempt, model: toWireHeader(specOf(model)) }, model.map((t) => t.data));
        return;
      }
      case 'STATISTICS': {
        const { value: statistics } = await this.heartbeating(round, () => this.trainer.statistics());
        if (!statistics) throw new Error('the job asks for federated statistics, and this trainer computes none');
        const header = toWireHeader([{ name: 'statistics', dtype: 'F64', shape: [statistics.length] }]);
        await this.submit({ kind, round, attempt, model: header }, [statistics]);
        this.log.info('statistics sent', { values: statistics.length });
        return;
      }
      case 'TRAIN': {
        if (this.secure) {
          await this.secure.run(task, async () => {
            const global = await this.fetch(task);
            const trained = await this.train(task, global);
            if (!trained) return null;
            const { header, model } = trained;
            return { header, delta: flatDelta(this.leaving(model, global, round), global) };
          });
          return;
        }
        const global = await this.fetch(task);
        const trained = await this.train(task, global);
        if (!trained) return;
        const { header, model, commit } = trained;
        const withModel = { ...header, model: toWireHeader(specOf(model)) };
        const leaving = this.leaving(model, global, round);
        const compression = compressionOf(task);
        if (compression.upload === 'ENCODING_NONE') {
          const arrays = leaving.map((t) => t.data);
          try {
            await this.send(withModel, arrays);
          } catch (err) {
            const code = codeOf(err);
            if (this.options.resendLostUpdates && code !== undefined && TRANSIENT.has(code)) this.unanswered = { header: withModel, arrays };
            throw err;
          }
        } else {
          // Encoded: the delta on the model received, with what top-k kept back from earlier rounds.
          const residual = compression.upload === 'TOP_K' ? await this.residuals.load(leaving) : null;
          const upload = encodeUpload(leaving, global, compression, residual);
          await this.send({ ...withModel, encoding: compression.upload }, upload.chunks);
          if (upload.residual) await this.residuals.save(upload.residual, round);
        }
        // SCAFFOLD: the site's control variate moves on only once its update was taken.
        await commit?.();
        return;
      }
      case 'EVALUATE': {
        const global = await this.fetch(task);
        let evaluation = await this.trainer.evaluate(global, round);
        const personalization = this.options.personalization;
        if (personalization) {
          const { value: tuned } = await this.heartbeating(round, () => fineTuned(this.trainer, global, personalization, task.params!.seed, round));
          this.log.info('final model fine-tuned at the site', { loss: tuned.loss, accuracy: tuned.accuracy, localEpochs: personalization.localEpochs });
          evaluation = withFineTuned(evaluation, tuned);
        }
        await this.submit({ kind, round, attempt, eval: wire(evaluation) }, []);
        this.log.info('final model evaluated', { loss: evaluation.loss, accuracy: evaluation.accuracy, samples: evaluation.numSamples });
        return;
      }
      default:
        throw new Error(`the aggregator sent a task of kind ${kind}, which this client does not know: run matching versions`);
    }
  }

  /** Evaluates the global model and trains from it; null when the round closed meanwhile. */
  private async train(task: Task__Output, global: Model): Promise<{ header: UpdateHeader; model: Model; commit?: () => Promise<void> } | null> {
    const { kind, round, attempt } = task;
    const { value, open } = await this.heartbeating(round, async () => {
      const evaluation = await this.trainer.evaluate(global, round);
      const started = Date.now();
      const trained = await this.trainer.train(global, task.params!, round);
      this.log.info('trained', { round, trainLoss: trained.metrics.loss, samples: trained.metrics.numSamples, seconds: (Date.now() - started) / 1000 });
      return { evaluation, trained };
    });
    if (!open) {
      this.log.warn('the round closed while training; the update is not sent', { round, attempt });
      return null;
    }
    const { evaluation, trained } = value;
    const header = { kind, round, attempt, numSamples: trained.metrics.numSamples, train: wire(trained.metrics), eval: wire(evaluation) };
    return { header, model: trained.model, ...(trained.commit ? { commit: trained.commit } : {}) };
  }

  private async fetch(task: Task__Output): Promise<Model> {
    if (!task.model) throw new Error(`the ${task.kind} task of round ${task.round} names no model`);
    const started = Date.now();
    const model = await this.connection.fetchModel(task.round, fromWireHeader(task.model), compressionOf(task).download);
    const ms = Date.now() - started;
    this.log.info('model received', { round: task.round, bytes: modelBytes(model), seconds: ms / 1000, megabytesPerSecond: megabytesPerSecond(modelBytes(model), ms) });
    return model;
  }

  /**
   * What leaves the site of a trained model: itself, or under local DP its clipped and noised delta
   * on the global model; under distributed DP the same with the site's share of the noise.
   */
  private leaving(trained: Model, global: Model, round: number): Model {
    const plan = this.options.privacy;
    if (plan?.mode !== 'Local' && plan?.mode !== 'Distributed') return trained;
    const local = localPrivateUpdate(
      trained.map((t) => t.data),
      global.map((t) => t.data),
      plan.clipNorm,
      plan.siteNoiseMultiplier,
    );
    this.log.info('update clipped and noised before it leaves', { round, mode: plan.mode, updateNorm: local.norm, clipNorm: plan.clipNorm, noiseMultiplier: plan.siteNoiseMultiplier });
    return trained.map((t, k) => ({ ...t, data: local.tensors[k]! }));
  }

  /** Sends the update whose answer was lost again; kept for later if the aggregator is still away. */
  private async resend(): Promise<void> {
    const { header, arrays } = this.unanswered!;
    try {
      await this.send(header, arrays);
      this.unanswered = null;
      this.log.info('update sent again after its answer was lost', { round: header.round });
    } catch (err) {
      const code = codeOf(err);
      if (code !== undefined && TRANSIENT.has(code)) throw err;
      this.unanswered = null;
      this.log.info('the update sent again was not taken; asking for work', { round: header.round, reason: (err as ServiceError).details ?? (err as Error).message });
    }
  }

  private async send(header: UpdateHeader, arrays: readonly Values[] | readonly WireChunk[]): Promise<void> {
    const started = Date.now();
    const sent = await this.submit(header, arrays);
    const ms = Date.now() - started;
    this.log.info('update sent', {
      kind: header.kind,
      round: header.round,
      bytes: sent.bytesReceived,
      seconds: ms / 1000,
      megabytesPerSecond: megabytesPerSecond(sent.bytesReceived, ms),
    });
  }

  /** Every update goes through here: written down in the site's trail before it leaves, then sent. */
  private async submit(header: UpdateHeader, arrays: readonly Values[] | readonly WireChunk[]): Promise<SubmitUpdateResponse__Output> {
    const audit = this.options.audit;
    const sha256 = await audit?.leaving(header, arrays);
    let sent: SubmitUpdateResponse__Output;
    try {
      sent = await this.connection.submitUpdate(header, arrays);
    } catch (err) {
      const code = codeOf(err);
      await audit?.answered(header, sha256!, { accepted: false, code: code === undefined ? 'none' : status[code], reason: (err as ServiceError).details ?? (err as Error).message });
      throw err;
    }
    await audit?.answered(header, sha256!, { accepted: true, bytesReceived: sent.bytesReceived });
    return sent;
  }

  /** Runs work while telling the aggregator the site is alive; open is false if the round closed meanwhile. */
  private heartbeating<T>(round: number, work: () => Promise<T>): Promise<{ value: T; open: boolean }> {
    return (this.options.heartbeats ?? this.timerHeartbeats)(round, this.heartbeatMs, work);
  }

  /** Heartbeats on this thread's timer: they stop while a trainer holds the thread. */
  private readonly timerHeartbeats: Heartbeating = async (round, intervalMs, work) => {
    let open = true;
    const timer = setInterval(() => {
      this.connection.heartbeat(round, 0).then(
        (roundOpen) => (open &&= roundOpen),
        () => {},
      );
    }, intervalMs);
    try {
      const value = await work();
      return { value, open };
    } finally {
      clearInterval(timer);
    }
  };
}

/** The model's delta on the global model, all tensors in order, as one vector (what a secure round masks). */
function flatDelta(model: Model, global: Model): Float64Array {
  const out = new Float64Array(global.reduce((n, t) => n + t.data.length, 0));
  let at = 0;
  for (const [k, tensor] of model.entries()) {
    const base = global[k]!.data;
    for (let i = 0; i < tensor.data.length; i++) out[at++] = tensor.data[i]! - base[i]!;
  }
  return out;
}
