import { FINE_TUNED_ACCURACY, FINE_TUNED_LOSS } from '../federation/metric-keys.js';
import type { Figures, RoundRecord, SiteRound } from './result.js';

/** Wire metrics as they arrive in an update header. */
export interface WireMetrics {
  numSamples: number;
  loss: number;
  accuracy: number;
  extra?: Record<string, number>;
}

/** The fine-tuned figures an evaluation carries, on the same test records; undefined when it has none. */
export function fineTunedOf(metrics: WireMetrics | null): Figures | undefined {
  const loss = metrics?.extra?.[FINE_TUNED_LOSS];
  const accuracy = metrics?.extra?.[FINE_TUNED_ACCURACY];
  if (!metrics || metrics.numSamples === 0 || loss === undefined || accuracy === undefined) return undefined;
  return { numSamples: metrics.numSamples, loss, accuracy };
}

/** The metrics of a header, or null when the site sent none (numSamples 0). */
export function figuresOf(metrics: WireMetrics | null): Figures | null {
  if (!metrics || metrics.numSamples === 0) return null;
  return { numSamples: metrics.numSamples, loss: metrics.loss, accuracy: metrics.accuracy };
}

/** Sample-weighted loss and accuracy over sites; null when no site had any samples. */
export function weightedFigures(list: readonly (Figures | null)[]): Figures | null {
  let n = 0;
  let loss = 0;
  let accuracy = 0;
  for (const f of list) {
    if (!f) continue;
    n += f.numSamples;
    loss += f.numSamples * f.loss;
    accuracy += f.numSamples * f.accuracy;
  }
  return n === 0 ? null : { numSamples: n, loss: loss / n, accuracy: accuracy / n };
}

/**
 * The figures of the sites whose updates were accepted in the phase in flight. Sorted by site when
 * summarised, so that a re-run gives the same record whatever order the updates arrived in.
 */
export class RoundLedger {
  private entries = new Map<string, SiteRound>();

  add(entry: SiteRound): void {
    this.entries.set(entry.site, entry);
  }

  clear(): void {
    this.entries.clear();
  }

  sites(): SiteRound[] {
    return [...this.entries.values()].sort((a, b) => (a.site < b.site ? -1 : a.site > b.site ? 1 : 0));
  }

  record(round: number, attempt: number, startedAt: number, now: number): RoundRecord {
    const sites = this.sites();
    return {
      round,
      attempt,
      participants: sites.map((s) => s.site),
      startedAt: new Date(startedAt).toISOString(),
      durationSeconds: (now - startedAt) / 1000,
      train: weightedFigures(sites.map((s) => s.train)),
      eval: weightedFigures(sites.map((s) => s.eval)),
      sites,
    };
  }
}
