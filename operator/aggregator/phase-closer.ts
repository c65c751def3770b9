import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { allFinite } from '../federation/finite.js';
import { writeSafetensors } from '../federation/safetensors.js';
import type { Logger } from '../log.js';
import type { AggregatorCore } from './aggregator.js';
import type { CheckpointStore } from './checkpoint.js';
import type { AggregatorMetrics } from './metrics.js';
import { MODEL_FILE, RESULT_FILE, writeResult, type Figures } from './result.js';
import { weightedFigures } from './round-figures.js';
import { RunningSum } from './running-sum.js';
import type { Transition } from './round-state.js';

type Close = Extract<Transition, { kind: 'close' }>;

/**
 * Carries out what the round state machine decided: a close (aggregate, record, advance,
 * checkpoint), a retry (forget the attempt's updates) or a failure. Updates still arriving when
 * their phase closes are revoked first: a close takes back what they folded, so the aggregate holds
 * exactly the accepted updates; a retry discards the whole running sum anyway.
 */
export class PhaseCloser {
  constructor(
    private readonly core: AggregatorCore,
    private readonly store: CheckpointStore,
    private readonly stateDir: string,
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
      if (!this.core.state.result) this.core.state.finish(false, message);
      await this.end().catch((e: Error) => this.log.error('could not write the result', { error: e.message }));
    }
  }

  private async close(t: Close): Promise<void> {
    const core = this.core;
    await this.revokeAll(false);
    const now = Date.now();
    switch (t.phase) {
      case 'INITIALIZE': {
        const model = core.candidate!;
        core.global = model;
        core.sum = new RunningSum(model);
        core.candidate = null;
        core.modelVersion++;
        this.log.info('initial model adopted', { site: t.participants[0], tensors: model.length });
        break;
      }
      case 'STATISTICS':
        core.statistics = core.statisticsSum;
        core.statisticsSum = null;
        this.log.info('federated statistics summed', { sites: t.participants.length, values: core.statistics?.length ?? 0 });
        break;
      case 'TRAIN': {
        const record = core.ledger.record(t.round, t.attempt, t.startedAt, now);
        const sum = core.sum!;
        const started = performance.now();
        core.strategy.step(core.global!, sum.sums, sum.totalWeight);
        this.metrics.aggregationSeconds.observe((performance.now() - started) / 1000);
        sum.reset();
        core.modelVersion++;
        if (!core.global!.every((tensor) => allFinite(tensor.data))) {
          throw new Error(`round ${t.round} made a global model with NaN or Infinity (strategy ${core.strategy.name}): lower the server learning rate`);
        }
        core.history.push(record);
        this.metrics.roundDuration.observe(record.durationSeconds);
        this.metrics.participants.set(record.participants.length);
        this.showGlobal(record.eval);
        this.log.info('round closed', {
          round: t.round,
          attempt: t.attempt,
          participants: record.participants,
          trainLoss: record.train?.loss,
          evalLoss: record.eval?.loss,
          evalAccuracy: record.eval?.accuracy,
          durationSeconds: record.durationSeconds,
        });
        break;
      }
      case 'EVALUATE': {
        const sites = core.ledger.sites();
        core.finalEvaluation = { eval: weightedFigures(sites.map((s) => s.eval)), sites: sites.map((s) => ({ site: s.site, eval: s.eval })) };
        this.showGlobal(core.finalEvaluation.eval);
        this.log.info('final model evaluated', { sites: t.participants, loss: core.finalEvaluation.eval?.loss, accuracy: core.finalEvaluation.eval?.accuracy });
        break;
      }
    }
    core.ledger.clear();
    core.state.advance(Date.now());
    // The result before the checkpoint: a checkpoint that says DONE always has its result.json.
    if (core.state.result) await this.end();
    await this.checkpoint();
  }

  private async retry(reason: string, round: number, attempt: number): Promise<void> {
    this.log.warn(`${reason}; retrying`, { round, attempt });
    await this.discardAttempt();
  }

  private async fail(reason: string): Promise<void> {
    this.log.error(`job failed: ${reason}`);
    await this.discardAttempt();
    await this.end();
    await this.checkpoint();
  }

  /** Forgets every update of the attempt, arrived or arriving. */
  private async discardAttempt(): Promise<void> {
    // Revoke before resetting, in the same tick: no chunk of an old update may land in the new sum.
    const revoked = this.revokeAll(true);
    this.core.sum?.reset();
    this.core.statisticsSum = null;
    this.core.candidate = null;
    this.core.ledger.clear();
    await revoked;
  }

  private revokeAll(sumsDiscarded: boolean): Promise<unknown> {
    const intakes = [...this.core.intakes.values()];
    this.core.intakes.clear();
    return Promise.all(intakes.map((intake) => intake.revoke(sumsDiscarded)));
  }

  private showGlobal(figures: Figures | null): void {
    if (!figures) return;
    this.metrics.globalLoss.set(figures.loss);
    this.metrics.globalAccuracy.set(figures.accuracy);
  }

  private async checkpoint(): Promise<void> {
    const core = this.core;
    const { phase, round } = core.state.position;
    await this.store.save({
      position: { phase, round },
      outcome: core.state.result,
      statistics: core.statistics ? [...core.statistics] : null,
      history: core.history,
      finalEvaluation: core.finalEvaluation,
      model: core.global,
      optimizer: core.strategy.state(),
    });
  }

  /** result.json, and the final model when the job succeeded. */
  private async end(): Promise<void> {
    const core = this.core;
    const outcome = core.state.result!;
    const withModel = outcome.succeeded && core.global !== null;
    if (withModel) await writeSafetensors(path.join(this.stateDir, MODEL_FILE), core.global!, { job: core.settings.job, rounds: String(core.settings.rounds) });
    await writeResult(path.join(this.stateDir, RESULT_FILE), {
      job: core.settings.job,
      namespace: core.settings.namespace,
      strategy: core.strategy.name,
      status: outcome.succeeded ? 'Succeeded' : 'Failed',
      reason: outcome.message,
      rounds: core.history,
      finalEvaluation: core.finalEvaluation,
      statistics: core.statistics ? [...core.statistics] : null,
      model: withModel ? MODEL_FILE : null,
      finishedAt: new Date().toISOString(),
    });
    this.log.info(outcome.succeeded ? 'job succeeded' : 'job failed', { reason: outcome.message });
  }
}
