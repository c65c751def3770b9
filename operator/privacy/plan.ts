import { epsilonFor, noiseMultiplierFor } from './accountant.js';

/**
 * `flotilla privacy`: the planning question before a job runs. Given the noise multiplier, the
 * sampling rate of sites per round, the rounds and δ, what ε does the job spend; or, given a target
 * ε, which noise multiplier is needed.
 */
export interface PlanQuestion {
  samplingRate: number;
  rounds: number;
  delta: number;
  noiseMultiplier?: number;
  targetEpsilon?: number;
}

export interface PlanAnswer {
  samplingRate: number;
  rounds: number;
  delta: number;
  noiseMultiplier: number;
  epsilon: number;
  /** The RDP order that gave the tightest ε. */
  order: number;
}

export class PlanError extends Error {}

function number(name: string, raw: string | undefined, check: (x: number) => boolean, rule: string): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || !check(x)) throw new PlanError(`--${name} must be ${rule}, not '${raw}'`);
  return x;
}

/** Reads the command's flags; every refusal names the flag and the rule. */
export function planQuestion(flags: Record<string, string | boolean | undefined>): PlanQuestion {
  const str = (name: string) => {
    const v = flags[name];
    return typeof v === 'string' ? v : undefined;
  };
  const samplingRate = number('sampling-rate', str('sampling-rate') ?? '1', (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const rounds = number('rounds', str('rounds'), (x) => Number.isInteger(x) && x >= 1, 'a whole number ≥ 1');
  const delta = number('delta', str('delta'), (x) => x > 0 && x < 1, 'a number in (0, 1)');
  const noiseMultiplier = number('noise-multiplier', str('noise-multiplier'), (x) => x > 0, 'a number > 0');
  const targetEpsilon = number('target-epsilon', str('target-epsilon'), (x) => x > 0, 'a number > 0');
  if (rounds === undefined) throw new PlanError('--rounds is required');
  if (delta === undefined) throw new PlanError('--delta is required');
  if ((noiseMultiplier === undefined) === (targetEpsilon === undefined)) {
    throw new PlanError('give exactly one of --noise-multiplier (to get ε) and --target-epsilon (to get the noise multiplier)');
  }
  return { samplingRate: samplingRate!, rounds, delta, noiseMultiplier, targetEpsilon };
}

export function answer(q: PlanQuestion): PlanAnswer {
  let noiseMultiplier = q.noiseMultiplier;
  if (noiseMultiplier === undefined) {
    try {
      noiseMultiplier = noiseMultiplierFor(q.samplingRate, q.rounds, q.delta, q.targetEpsilon!);
    } catch (err) {
      throw new PlanError((err as Error).message);
    }
  }
  const { epsilon, order } = epsilonFor(q.samplingRate, noiseMultiplier, q.rounds, q.delta);
  return { samplingRate: q.samplingRate, rounds: q.rounds, delta: q.delta, noiseMultiplier, epsilon, order };
}

export function describeAnswer(a: PlanAnswer, asked: PlanQuestion): string {
  const setting = `after ${a.rounds} rounds, sampling rate ${a.samplingRate}, δ = ${a.delta} (RDP order ${a.order}; Balle et al. 2020 conversion)`;
  if (asked.targetEpsilon !== undefined) {
    return `noise multiplier ${a.noiseMultiplier.toPrecision(5)}: ε = ${a.epsilon.toPrecision(5)} ≤ ${asked.targetEpsilon} ${setting}`;
  }
  return `ε = ${a.epsilon.toPrecision(5)} ${setting}, noise multiplier ${a.noiseMultiplier}`;
}

export const PLAN_USAGE =
  'flotilla privacy --rounds N --delta D [--sampling-rate Q] (--noise-multiplier Z | --target-epsilon E) [--json]\n' +
  '  ε of a job with Poisson sampling of sites at rate Q (default 1: every site every round), or the noise multiplier a target ε needs';

/** The command: prints the answer (or JSON); returns the exit code. */
export function planMain(flags: Record<string, string | boolean | undefined>, out: (line: string) => void, err: (line: string) => void): number {
  try {
    const q = planQuestion(flags);
    const a = answer(q);
    out(flags.json ? JSON.stringify(a) : describeAnswer(a, q));
    return 0;
  } catch (e) {
    if (!(e instanceof PlanError)) throw e;
    err(`flotilla privacy: ${e.message}\nUsage: ${PLAN_USAGE}`);
    return 2;
  }
}
