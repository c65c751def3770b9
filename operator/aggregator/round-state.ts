import { Refusal } from './refusal.js';

/**
 * The aggregator's phases. INITIALIZE asks every site for the initial model (only for trainers
 * whose model the spec does not describe) and adopts one that minSites sites sent alike; STATISTICS (only for
 * jobs that standardise features federatedly) collects every site's statistics vector; TRAIN runs
 * rounds 1..R; EVALUATE asks every site to evaluate the final model; DONE ends the job.
 */
export type Phase = 'INITIALIZE' | 'STATISTICS' | 'TRAIN' | 'EVALUATE' | 'DONE';
export type CollectingPhase = Exclude<Phase, 'DONE'>;

export interface RoundRules {
  /** The job's sites, in a fixed order. */
  sites: readonly string[];
  rounds: number;
  /** The quorum of a round (and of the statistics and evaluation phases). */
  minSites: number;
  deadlineMs: number;
  heartbeatTimeoutMs: number;
  maxRoundRetries: number;
  /** Whether the job has a STATISTICS phase. */
  statistics: boolean;
  /** The sites selected for a round's attempt (a pure function of its arguments, except under Poisson sampling). */
  select(round: number, attempt: number): readonly string[];
  /** A TRAIN round's quorum when it is not minSites: 0 under Poisson sampling, which must not redraw. */
  trainQuorum?: number;
  /** Why round `round` may not start (a privacy budget it would exceed), or null: training ends and the model is evaluated. */
  stopBefore?(round: number): string | null;
}

/** A site dropped from a phase for silence: past the heartbeat timeout without a call. */
export interface SilentSite {
  site: string;
  silentMs: number;
  phase: string;
  round: number;
  attempt: number;
}

/** Where a job stands; a checkpoint stores the position of the next phase to run. */
export interface Position {
  phase: Phase;
  /** TRAIN: the round (1-based); EVALUATE: the last round; before training: 0. */
  round: number;
}

/** What a site should do now, computed from the state alone. */
export type NextStep =
  | { kind: 'WAIT' }
  | { kind: CollectingPhase; round: number; attempt: number; deadline: number }
  | { kind: 'DONE'; succeeded: boolean; message: string };

/** What the runtime must carry out after tick(). */
export type Transition =
  | { kind: 'close'; phase: CollectingPhase; round: number; attempt: number; participants: string[]; startedAt: number }
  | { kind: 'retry'; phase: CollectingPhase; round: number; attempt: number; reason: string }
  | { kind: 'fail'; reason: string };

export function describePhase(phase: Phase, round: number): string {
  switch (phase) {
    case 'INITIALIZE':
      return 'initialization';
    case 'STATISTICS':
      return 'the statistics phase';
    case 'TRAIN':
      return `round ${round}`;
    case 'EVALUATE':
      return 'the final evaluation';
    case 'DONE':
      return 'the end of the job';
  }
}

/**
 * The round state machine: pure, with time passed in (ms), no I/O. The runtime asks it what each
 * site should do, admits and accepts updates through it, calls tick() on a timer, and carries out
 * the transitions tick() returns (aggregate then advance(), or reset for a retry).
 */
export class RoundState {
  protected phase!: Phase;
  protected round!: number;
  protected attempt!: number;
  /** Sites whose update the phase waits for: the selection (TRAIN), every site, or the initializer. */
  private expected = new Set<string>();
  private reported = new Set<string>();
  protected inFlight = new Set<string>();
  /** INITIALIZE: which model (a digest) each reporting site sent; the phase closes on agreement. */
  private sent = new Map<string, string>();
  private dropped = new Set<string>();
  /** Sites dropped for silence since takeSilent() last asked: the aggregator logs each once. */
  private newlySilent: SilentSite[] = [];
  /** Why sites were dropped other than for silence (a secure-aggregation stage), for the missed-quorum message. */
  private droppedBecause: string[] = [];
  private settledDropped = new Set<string>();
  protected startedAt = 0;
  protected deadline = 0;
  /** Set between a close and advance(): the phase takes nothing more. */
  protected closing = false;
  private outcome = { succeeded: false, message: '' };
  private readonly lastSeen = new Map<string, number>();
  /** Counts changes that can turn one site's WAIT into work: long polls wake on it. */
  protected changes = 0;

  constructor(
    protected readonly rules: RoundRules,
    at: Position,
    now: number,
  ) {
    this.enter(at.phase, at.round, 0, now);
  }

  get position(): Position & { attempt: number; closing: boolean } {
    return { phase: this.phase, round: this.round, attempt: this.attempt, closing: this.closing };
  }

  get revision(): number {
    return this.changes;
  }

  get result(): { succeeded: boolean; message: string } | null {
    return this.phase === 'DONE' ? { ...this.outcome } : null;
  }

  /** The sites the current phase waits for (a TRAIN round's selection). */
  get selected(): string[] {
    return [...this.expected];
  }

  /** The sites the phase in progress asked for an update and has none from yet (those dropped for silence too). */
  get awaited(): string[] {
    return this.phase === 'DONE' ? [] : [...this.expected].filter((site) => !this.reported.has(site));
  }

  /** The deadline of the phase in progress; undefined once the job ended. */
  get deadlineAt(): number | undefined {
    return this.phase === 'DONE' ? undefined : this.deadline;
  }

  /** When the site was last heard from, if it was since this aggregator started. */
  lastSeenAt(site: string): number | undefined {
    return this.lastSeen.get(site);
  }

  seen(site: string, now: number): void {
    this.lastSeen.set(site, now);
  }

  nextStep(site: string, now: number): NextStep {
    this.seen(site, now);
    if (this.phase === 'DONE') return { kind: 'DONE', ...this.outcome };
    if (this.closing) return { kind: 'WAIT' };
    if (!this.wants(site) || this.inFlight.has(site)) return { kind: 'WAIT' };
    return { kind: this.phase, round: this.round, attempt: this.attempt, deadline: this.deadline };
  }

  /** Whether the site still has work in the current phase (the Heartbeat answer). */
  isOpenFor(site: string, round: number): boolean {
    return this.phase !== 'DONE' && !this.closing && round === this.round && this.wants(site);
  }

  /** Checks that an update may start arriving, and marks it in flight; throws a Refusal if not. */
  admit(site: string, kind: string, round: number, attempt: number, now: number): void {
    this.seen(site, now);
    const current = `${describePhase(this.phase, this.round)}${this.attempt > 0 ? ` (attempt ${this.attempt})` : ''}`;
    if (this.phase === 'DONE') throw new Refusal('wrong_phase', 'the job is over: no more updates are taken');
    if (kind !== this.phase) {
      const reason = kind === 'TRAIN' ? 'stale_round' : 'wrong_phase';
      throw new Refusal(reason, `a ${kind} update is not expected now: the aggregator is in ${current}; ask NextTask for work`);
    }
    if (this.closing || round !== this.round || attempt !== this.attempt) {
      throw new Refusal(
        'stale_round',
        `the update is for ${describePhase(kind, round)} attempt ${attempt}, which is over or not the current one (${current}); ask NextTask for work`,
      );
    }
    if (!this.expected.has(site)) {
      throw new Refusal('not_selected', `site ${site} is not selected for ${current}; ask NextTask for work`);
    }
    if (this.dropped.has(site)) {
      throw new Refusal(
        'not_selected',
        `site ${site} was dropped from ${current} after ${this.rules.heartbeatTimeoutMs / 1000}s without a heartbeat`,
      );
    }
    if (this.reported.has(site)) throw new Refusal('duplicate', `site ${site} already sent its update for ${current}`);
    if (this.inFlight.has(site)) throw new Refusal('duplicate', `an update from site ${site} for ${current} is already arriving`);
    this.inFlight.add(site);
  }

  /** An admitted update was refused or cut short: the site may send again. */
  release(site: string): void {
    this.inFlight.delete(site);
  }

  /** An admitted update arrived whole; `model` names an initial model's bytes (a digest). */
  accept(site: string, now: number, model?: string): void {
    this.seen(site, now);
    if (!this.inFlight.delete(site) || this.closing) {
      throw new Refusal('stale_round', `${describePhase(this.phase, this.round)} closed while the update from ${site} arrived`);
    }
    this.reported.add(site);
    if (model !== undefined) this.sent.set(site, model);
  }

  /**
   * Settles a TRAIN attempt whose updates arrived together (a secure-aggregation sum): `reported`
   * count as reported, whatever the heartbeats said since, and `dropped` are dropped for `why`.
   */
  settle(reported: readonly string[], dropped: readonly string[], why: string, now: number): void {
    if (this.phase !== 'TRAIN' || this.closing) return;
    for (const site of reported) {
      if (!this.expected.has(site)) continue;
      this.seen(site, now);
      this.dropped.delete(site);
      this.reported.add(site);
    }
    for (const site of dropped) {
      if (!this.expected.has(site) || this.reported.has(site) || this.dropped.has(site)) continue;
      this.dropped.add(site);
      this.settledDropped.add(site);
    }
    if (dropped.length > 0) this.droppedBecause.push(why);
    this.changes++;
  }

  /** The sites dropped for silence since the last call, each with how long it had been silent. */
  takeSilent(): SilentSite[] {
    const silent = this.newlySilent;
    this.newlySilent = [];
    return silent;
  }

  /** Drops silent sites, closes a complete phase, and retries or fails one past its deadline. */
  tick(now: number): Transition | null {
    if (this.phase === 'DONE' || this.closing) return null;
    const phase = this.phase;
    for (const site of this.expected) {
      const quiet = now - Math.max(this.lastSeen.get(site) ?? -Infinity, this.startedAt);
      if (!this.reported.has(site) && !this.inFlight.has(site) && !this.dropped.has(site) && quiet > this.rules.heartbeatTimeoutMs) {
        this.dropped.add(site);
        this.newlySilent.push({ site, silentMs: quiet, phase, round: this.round, attempt: this.attempt });
        this.changes++;
      }
    }
    const quorum = phase === 'TRAIN' ? (this.rules.trainQuorum ?? this.rules.minSites) : this.rules.minSites;
    const outstanding = this.outstanding();
    const pastDeadline = now >= this.deadline;
    // An initial model is adopted as soon as a quorum sent it alike: nobody else is waited for.
    const participants = phase === 'INITIALIZE' ? this.agreeing() : [...this.reported];
    if (participants.length >= quorum && (phase === 'INITIALIZE' || outstanding === 0 || pastDeadline)) {
      this.closing = true;
      this.changes++;
      return { kind: 'close', phase, round: this.round, attempt: this.attempt, participants, startedAt: this.startedAt };
    }
    // Nobody left to wait for (everyone selected reported or fell silent): no reason to sit out the deadline.
    const hopeless = outstanding === 0;
    if (!pastDeadline && !hopeless) return null;
    const missed = this.missedQuorum(quorum);
    if (this.attempt < this.rules.maxRoundRetries) {
      this.enter(phase, this.round, this.attempt + 1, now);
      return { kind: 'retry', phase, round: this.round, attempt: this.attempt, reason: missed };
    }
    const retries = this.rules.maxRoundRetries;
    const reason = `${missed}, ${retries} ${retries === 1 ? 'retry' : 'retries'} exhausted`;
    // Held, not finished: the runtime writes the failure down, then finish() announces it.
    this.hold();
    return { kind: 'fail', reason };
  }

  /** After a close was carried out: on to the next round or phase. */
  advance(now: number): Position {
    if (this.phase === 'DONE') return { phase: 'DONE', round: this.round };
    const to = nextPosition(this.phase, this.round, this.rules);
    if (to.phase === 'DONE') this.finish(true, endMessage(this.round, this.rules));
    else this.enter(to.phase, to.round, 0, now);
    return to;
  }

  /** Takes nothing more and hands out no work (WAIT) until advance() or finish(). */
  hold(): void {
    if (this.phase === 'DONE' || this.closing) return;
    this.closing = true;
    this.changes++;
  }

  finish(succeeded: boolean, message: string): void {
    this.phase = 'DONE';
    this.closing = false;
    this.inFlight.clear();
    this.outcome = { succeeded, message };
    this.changes++;
  }

  private wants(site: string): boolean {
    return this.expected.has(site) && !this.reported.has(site) && !this.dropped.has(site);
  }

  private outstanding(): number {
    let n = 0;
    for (const site of this.expected) if (!this.reported.has(site) && !this.dropped.has(site)) n++;
    return n;
  }

  /** The sites that sent the initial model most of them sent (ties: the first digest in order). */
  private agreeing(): string[] {
    const bySent = new Map<string, string[]>();
    for (const [site, model] of this.sent) bySent.set(model, [...(bySent.get(model) ?? []), site]);
    let best: string[] = [];
    for (const model of [...bySent.keys()].sort()) if (bySent.get(model)!.length > best.length) best = bySent.get(model)!;
    return best;
  }

  private missedQuorum(quorum: number): string {
    const label = describePhase(this.phase, this.round);
    const seconds = this.rules.deadlineMs / 1000;
    if (this.phase === 'INITIALIZE') {
      const models = new Set(this.sent.values()).size;
      const sites = `${this.sent.size} ${this.sent.size === 1 ? 'site' : 'sites'}`;
      const sent = this.sent.size === 0 ? 'no site sent one' : models === 1 ? `${sites} sent ${this.sent.size === 1 ? 'one' : 'the same one'}` : `${sites} sent ${models} different models`;
      return `${label} missed its quorum: no initial model was sent alike by ${quorum} sites (${sent})`;
    }
    const silent = [...this.dropped].filter((site) => !this.settledDropped.has(site));
    const silence =
      (silent.length > 0 ? `; silent for over ${this.rules.heartbeatTimeoutMs / 1000}s: ${silent.join(', ')}` : '') + this.droppedBecause.map((why) => `; ${why}`).join('');
    return (
      `${label} missed its quorum: ${this.reported.size} of ${quorum} required sites reported within ${seconds}s ` +
      `(asked: ${[...this.expected].join(', ')}${silence})`
    );
  }

  protected enter(phase: Phase, round: number, attempt: number, now: number): void {
    this.phase = phase;
    this.round = round;
    this.attempt = attempt;
    this.expected = phase === 'TRAIN' ? new Set(this.rules.select(round, attempt)) : new Set(this.rules.sites);
    this.reported = new Set();
    this.sent = new Map();
    this.inFlight = new Set();
    this.dropped = new Set();
    this.droppedBecause = [];
    this.settledDropped = new Set();
    this.startedAt = now;
    this.deadline = now + this.rules.deadlineMs;
    this.closing = false;
    this.changes++;
  }
}

export function succeededMessage(rounds: number): string {
  return `trained ${rounds} rounds and evaluated the final model`;
}

/** next(), with the rules' stop: a round that may not start (the privacy budget) becomes the final evaluation. */
export function nextPosition(phase: CollectingPhase, round: number, rules: Pick<RoundRules, 'rounds' | 'statistics' | 'stopBefore'>): Position {
  const to = next(phase, round, rules);
  return to.phase === 'TRAIN' && rules.stopBefore?.(to.round) ? { phase: 'EVALUATE', round: to.round - 1 } : to;
}

/** How a job that ended well says so; asked again at the end rather than remembered, so a restarted aggregator says the same. */
export function endMessage(round: number, rules: Pick<RoundRules, 'rounds' | 'stopBefore'>): string {
  if (round >= rules.rounds) return succeededMessage(rules.rounds);
  const reason = rules.stopBefore?.(round + 1) ?? 'training stopped early';
  return `trained ${round} of ${rules.rounds} rounds and evaluated the final model: ${reason}`;
}

/** The position after a phase closes. */
export function next(phase: CollectingPhase, round: number, rules: Pick<RoundRules, 'rounds' | 'statistics'>): Position {
  switch (phase) {
    case 'INITIALIZE':
      return rules.statistics ? { phase: 'STATISTICS', round: 0 } : { phase: 'TRAIN', round: 1 };
    case 'STATISTICS':
      return { phase: 'TRAIN', round: 1 };
    case 'TRAIN':
      return round < rules.rounds ? { phase: 'TRAIN', round: round + 1 } : { phase: 'EVALUATE', round };
    case 'EVALUATE':
      return { phase: 'DONE', round };
  }
}
