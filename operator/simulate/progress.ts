import cliProgress from 'cli-progress';

/**
 * Follows a run through the aggregator's own /metrics endpoint, the interface Prometheus and
 * Grafana use too: a progress bar on a terminal, one plain line per round otherwise.
 */
export interface RoundFigures {
  round: number;
  accuracy?: number;
  loss?: number;
}

export async function scrapeRound(metricsAddress: string): Promise<RoundFigures | undefined> {
  try {
    const res = await fetch(`http://${metricsAddress}/metrics`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return undefined;
    return parseRoundFigures(await res.text());
  } catch {
    return undefined;
  }
}

/** Picks the round and the global model's figures out of the Prometheus text format. */
export function parseRoundFigures(text: string): RoundFigures | undefined {
  const value = (metric: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) || l.startsWith(`${metric} `));
    const v = line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
    return Number.isFinite(v) ? v : undefined;
  };
  const round = value('flotilla_round');
  if (round === undefined) return undefined;
  // Before the first round closes the global figures are the gauges' zeros, not a measurement.
  if (round === 0) return { round };
  return { round, accuracy: value('flotilla_global_accuracy'), loss: value('flotilla_global_loss') };
}

export interface ProgressView {
  update(figures: RoundFigures): void;
  stop(): void;
}

export function progressView(job: string, rounds: number, stream: NodeJS.WriteStream = process.stderr): ProgressView {
  const describe = (f: RoundFigures) =>
    [f.accuracy === undefined ? '' : `accuracy ${f.accuracy.toFixed(3)}`, f.loss === undefined ? '' : `loss ${f.loss.toFixed(4)}`].filter(Boolean).join('  ');
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${job} |{bar}| round {value}/{total}  {figures}`, stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(rounds, 0, { figures: '' });
    return { update: (f) => bar.update(f.round, { figures: describe(f) }), stop: () => bar.stop() };
  }
  let last = -1;
  return {
    update(f) {
      if (f.round === last) return;
      last = f.round;
      stream.write(`${job}: round ${f.round}/${rounds} ${describe(f)}\n`);
    },
    stop() {},
  };
}
