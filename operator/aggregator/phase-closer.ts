import path from 'node:path';
import { writeSafetensors } from '../federation/safetensors.js';
import type { Logger } from '../log.js';
import { AUDIT_FILE, type AggregatorAudit } from './audit.js';
import type { CheckpointStore } from './checkpoint.js';
import type { JobState } from './job-state.js';
import type { AggregatorMetrics } from './metrics.js';
import { bufferedUpdatesOf, MODEL_FILE, RESULT_FILE, writeResult, type Figures } from './result.js';
import type { Transition } from './round-state.js';

type Close = Extract<Transition, { kind: 'close' }>;

/**
 * Carries out what the round state machine decided: a close (aggregate, record, checkpoint, then
 * announce the next phase), a retry (forget the attempt's updates) or a failure (written down, then
 * announced). Updates still arriving when their phase closes are revoked first: a close takes back
 * what they folded, so the aggregate holds exactly the accepted updates; a retry discards the whole
 * running sum anyway.
 */
export class PhaseCloser {
  /** Checkpoints are written one at a time, each of the job as it stands when its turn comes. */
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly job: JobState,
    private readonly store: CheckpointStore,
    private readonly stateDir: string,
    private readonly audit: AggregatorAudit,
    private readonly metrics: AggregatorMetrics,
    private readonly log: Logger,
  ) {}

  async carryOut(transition: Transition): Promise<void> {
    try {
      if (transition.kind === 'close') await this.close(transition);
      else if (transition.kind === 'retry') await this.retry(transition.reason, transition.round, transition.attempt);
      else await this.fail(transition.reason);
    } catch (err) {
      const message = `the aggregator could not carry on: ${(err as Error).message}`;
      this.log.error(message, { error: (err as Error).stack });
      this.job.failUnlessEnded(message);
      await this.end().catch((e: Error) => this.log.error('could not write the result', { error: e.message }));
      this.job.announce();
    }
  }

  private async close(t: Close): Promise<void> {
    await this.job.revokeIntakes(false);
    const closed = await this.job.close(t, Date.now(), (seconds) => this.metrics.aggregationSeconds.observe(seconds));
    switch (closed.phase) {
      case 'INITIALIZE':
        this.log.info('initial model adopted', { sites: t.participants, tensors: closed.tensors });
        break;
      case 'STATISTICS':
        this.log.info('federated statistics summed', { sites: t.participants.length, values: closed.values });
        break;
      case 'TRAIN': {
        const { record } = closed;
        this.metrics.roundDuration.observe(record.durationSeconds);
        this.metrics.roundClosed(t.round, record.participants);
        this.showGlobal(record.eval);
        if (record.privacy) this.metrics.privacyEpsilon.set(record.privacy.epsilon);
        if (record.traffic) this.metrics.roundTraffic(record.traffic);
        for (const u of bufferedUpdatesOf(record)) this.metrics.updateStaleness.observe(u.staleness);
        this.log.info('round closed', {
          round: t.round,
          attempt: t.attempt,
          participants: record.participants,
          trainLoss: record.train?.loss,
          evalLoss: record.eval?.loss,
          evalAccuracy: record.eval?.accuracy,
          durationSeconds: record.durationSeconds,
          ...(record.asynchronous ? { staleness: Object.fromEntries(bufferedUpdatesOf(record).map((u) => [u.site, u.staleness])) } : {}),
          ...(record.privacy ? { epsilon: record.privacy.epsilon, clipNorm: record.privacy.clipNorm, clipped: record.privacy.clipped } : {}),
        });
        break;
      }
      case 'EVALUATE': {
        const { evaluation } = closed;
        this.showGlobal(evaluation.eval);
        this.log.info('final model evaluated', { sites: t.participants, loss: evaluation.eval?.loss, accuracy: evaluation.eval?.accuracy });
        break;
      }
    }
    await this.audit.phaseClosed(t, closed.phase === 'TRAIN' ? this.job.globalModel() : null, closed.phase === 'TRAIN' ? closed.record.privacy : undefined);
    // The result before the checkpoint: a checkpoint that says DONE always has its result.json.
    // And both before the sites hear of it: nothing is announced that a crash could take back.
    if (this.job.ending) await this.end();
    await this.checkpoint();
    this.job.announce();
  }

  private async retry(reason: string, round: number, attempt: number): Promise<void> {
    this.log.warn(`${reason}; retrying`, { round, attempt });
    await this.job.discardAttempt();
    await this.audit.phaseRetried(round, attempt, reason);
  }

  private async fail(reason: string): Promise<void> {
    this.log.error(`job failed: ${reason}`);
    await this.job.discardAttempt();
    this.job.failUnlessEnded(reason);
    await this.end();
    await this.checkpoint();
    this.job.announce();
  }

  private showGlobal(figures: Figures | null): void {
    if (!figures) return;
    this.metrics.globalLoss.set(figures.loss);
    this.metrics.globalAccuracy.set(figures.accuracy);
  }

  /**
   * Writes the checkpoint of the job as it stands: for asynchronous aggregation after each accepted
   * update, so that the buffer is durable before its site is told the update was taken.
   */
  checkpoint(): Promise<void> {
    const turn = this.saving.then(() => this.store.save(this.job.checkpoint()));
    this.saving = turn.catch(() => {});
    return turn;
  }

  /** result.json, and the final model when the job succeeded. */
  private async end(): Promise<void> {
    const { job, rounds } = this.job.settings;
    const model = this.job.finalModel();
    if (model) await writeSafetensors(path.join(this.stateDir, MODEL_FILE), model, { job, rounds: String(rounds) });
    const ended = this.job.result(model ? MODEL_FILE : null, new Date());
    // The trail's last entry is the end, and result.json names the head it makes: a trail cut short shows against it.
    const head = await this.audit.ended(ended.status, ended.reason, model);
    const result = { ...ended, audit: { file: AUDIT_FILE, ...head } };
    await writeResult(path.join(this.stateDir, RESULT_FILE), result);
    this.log.info(result.status === 'Succeeded' ? 'job succeeded' : 'job failed', { reason: result.reason });
  }
}
