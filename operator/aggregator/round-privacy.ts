import type { Model, Tensor } from '../federation/model.js';
import { RdpAccountant } from '../privacy/accountant.js';
import { nextClipNorm } from '../privacy/clipping.js';
import { GaussianNoise } from '../privacy/gaussian.js';
import type { PrivacyPlan } from '../privacy/job-plan.js';
import type { AggregatorClip } from './intake.js';
import type { PrivacySummary, RoundPrivacyRecord } from './result.js';
import type { Strategy } from './strategy.js';

/**
 * The aggregator's side of a job's differential privacy: the clip norm of the round (moving, with
 * adaptive clipping), the noise on the sum (central), the fixed denominator of DP-FedAvg, and the
 * accountant with its budget. Each update weighs 1, whatever its sample count: a site's influence
 * must be bounded by the clip norm alone.
 */
export class RoundPrivacy {
  private readonly accountant = new RdpAccountant();
  private readonly noise = new GaussianNoise();
  private clipNorm: number;
  private norms: number[] = [];

  constructor(
    readonly plan: PrivacyPlan,
    history: readonly { privacy?: RoundPrivacyRecord }[],
  ) {
    this.clipNorm = plan.clipNorm;
    // A restarted aggregator carries on from what the closed rounds spent.
    for (const record of history) {
      if (!record.privacy) continue;
      this.accountant.compose(plan.perRound.q, plan.perRound.sigma);
      this.clipNorm = record.privacy.nextClipNorm;
    }
  }

  /** Central: the aggregator clips each update as it arrives. */
  clip(): AggregatorClip | undefined {
    if (this.plan.mode !== 'Central') return undefined;
    return { clipNorm: this.clipNorm, onNorm: (norm) => this.norms.push(norm) };
  }

  /** The strategy with the noise and the fixed denominator in front of it. */
  strategy(inner: Strategy): Strategy {
    return {
      name: inner.name,
      proximalMu: inner.proximalMu,
      state: () => inner.state(),
      restore: (tensors: readonly Tensor[]) => inner.restore(tensors),
      step: (global: Model, sums: Float64Array[], count: number) => {
        if (this.plan.mode === 'Central') {
          const stddev = this.plan.updateNoiseMultiplier * this.clipNorm;
          for (const sum of sums) this.noise.addTo(sum, stddev);
          inner.step(global, sums, this.plan.expectedSites, count);
        } else if (count > 0) {
          // Local, Distributed: the sites noised their updates; the mean of what came is post-processing.
          inner.step(global, sums, count, count);
        }
      },
    };
  }

  /** After a round's strategy step: what it spent, and the clip norm of the next round. */
  closeRound(): RoundPrivacyRecord {
    const { plan } = this;
    this.accountant.compose(plan.perRound.q, plan.perRound.sigma);
    const used = this.clipNorm;
    const unclipped = this.norms.filter((n) => n <= used).length;
    if (plan.adaptive) {
      const noisedCount = unclipped + plan.adaptive.countStddev * this.noise.standard();
      this.clipNorm = nextClipNorm(used, noisedCount / plan.expectedSites, plan.adaptive);
    }
    const record: RoundPrivacyRecord = {
      epsilon: this.epsilon(),
      delta: plan.delta,
      clipNorm: used,
      nextClipNorm: this.clipNorm,
      noiseStddev: plan.mode === 'Central' ? plan.updateNoiseMultiplier * used : null,
      clipped: plan.mode === 'Central' ? this.norms.length - unclipped : null,
    };
    this.norms = [];
    return record;
  }

  /** Forgets the norms of an attempt that is retried. */
  discardAttempt(): void {
    this.norms = [];
  }

  summary(): PrivacySummary {
    const { plan } = this;
    const sampling = plan.sampling.mode === 'Poisson' ? `Poisson, rate ${plan.sampling.rate}` : 'Fixed (no amplification claimed)';
    return { mode: plan.mode, epsilon: this.epsilon(), delta: plan.delta, budget: plan.budget ?? null, noiseMultiplier: plan.noiseMultiplier, sampling };
  }

  epsilon(): number {
    return this.accountant.epsilon(this.plan.delta).epsilon;
  }

  /** Why round `round` may not run (it would take ε over the budget), or null. */
  stopBefore(round: number): string | null {
    const { budget, perRound, delta } = this.plan;
    if (budget === undefined) return null;
    const after = this.accountant.after(perRound.q, perRound.sigma).epsilon(delta).epsilon;
    if (after <= budget) return null;
    return `the privacy budget stops training before round ${round}: it would take ε from ${this.epsilon().toFixed(3)} to ${after.toFixed(3)}, over the target ${budget} (δ = ${delta})`;
  }
}
