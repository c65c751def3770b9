import { Refusal } from './refusal.js';
import { RoundState, type NextStep, type Phase, type Position, type RoundRules, type Transition } from './round-state.js';

/** What the asynchronous TRAIN phase needs of the buffer, beside the round rules. */
export interface BufferRules {
  bufferSize: number;
  maxStaleness: number;
  /** The version the buffer folds onto now. */
  version(): number;
  /** How many updates the buffer holds. */
  buffered(): number;
  /** Who is in it, for the close's participants. */
  bufferedSites(): string[];
  /** The version is decided: updates accepted from now on go to the next buffer. */
  seal(): void;
}

/**
 * The round state machine under asynchronous aggregation (FedBuff). Every phase but TRAIN runs as
 * in RoundState. In TRAIN, round r is the version the buffer will make (r − 1 is the model's
 * version now), and nobody waits for anyone: every site is handed the newest model whenever it asks,
 * and its update is admitted if it was trained on one of the last maxStaleness versions. A site
 * sends at most one update for each version (then WAITs until the version moves), so a buffer of
 * bufferSize needs that many sites, and a replayed update is refused. The version closes when the
 * buffer holds bufferSize updates, or at the deadline with at least minSites; below that the wait is
 * extended maxRoundRetries times (the buffer is kept), then the job fails.
 */
export class BufferedRoundState extends RoundState {
  /** The round each site's update in flight is for. */
  private readonly arriving = new Map<string, number>();
  /** Sites whose update in flight is their last accepted one sent again (its answer was lost). */
  private readonly replays = new Set<string>();
  private extensions = 0;

  constructor(
    rules: RoundRules,
    private readonly buffer: BufferRules,
    /** The last round each site's update was for (from the checkpoint). */
    private readonly lastRound: Map<string, number>,
    /** The digest of each site's last accepted update (from the checkpoint): a re-send of it is answered as taken. */
    private readonly lastDigest: Map<string, string>,
    at: Position,
    now: number,
  ) {
    super(rules, at, now);
  }

  /** The last round each site sent an update for, for the checkpoint. */
  lastRounds(): Record<string, number> {
    return Object.fromEntries(this.lastRound);
  }

  /** The digest of each site's last accepted update, for the checkpoint. */
  lastDigests(): Record<string, string> {
    return Object.fromEntries(this.lastDigest);
  }

  /** Whether the site's update in flight is its last accepted one sent again: it is checked, not folded again. */
  isReplay(site: string): boolean {
    return this.replays.has(site);
  }

  override get awaited(): string[] {
    return this.phase === 'TRAIN' ? [] : super.awaited;
  }

  override nextStep(site: string, now: number): NextStep {
    if (this.phase !== 'TRAIN') return super.nextStep(site, now);
    this.seen(site, now);
    // While a version is being made the newest model is not ready: the site is handed it once it is.
    if (this.closing || this.inFlight.has(site) || (this.lastRound.get(site) ?? 0) >= this.round) return { kind: 'WAIT' };
    return { kind: 'TRAIN', round: this.round, attempt: 0, deadline: this.deadline };
  }

  override isOpenFor(site: string, round: number): boolean {
    if (this.phase !== 'TRAIN') return super.isOpenFor(site, round);
    return round <= this.round && this.buffer.version() - (round - 1) <= this.buffer.maxStaleness && (this.lastRound.get(site) ?? 0) < round;
  }

  override admit(site: string, kind: string, round: number, attempt: number, now: number): void {
    // The site's last accepted update sent again (its answer was lost): answered as taken in any phase, as it was.
    if (kind === 'TRAIN' && this.lastRound.get(site) === round && this.lastDigest.has(site) && !this.inFlight.has(site)) {
      this.seen(site, now);
      this.inFlight.add(site);
      this.arriving.set(site, round);
      this.replays.add(site);
      return;
    }
    if (this.phase !== 'TRAIN' || kind !== 'TRAIN') return super.admit(site, kind, round, attempt, now);
    this.seen(site, now);
    if (round < 1 || round > this.round) {
      throw new Refusal('stale_round', `the update is for version ${round}, and the aggregator is making version ${this.round}; ask NextTask for work`);
    }
    this.checkStaleness(round);
    if ((this.lastRound.get(site) ?? 0) >= round) {
      throw new Refusal('duplicate', `site ${site} already sent an update for version ${this.lastRound.get(site)}: one update per site per version; ask NextTask for the newest model`);
    }
    if (this.inFlight.has(site)) throw new Refusal('duplicate', `an update from site ${site} is already arriving`);
    this.inFlight.add(site);
    this.arriving.set(site, round);
  }

  override release(site: string): void {
    this.inFlight.delete(site);
    super.release(site);
    this.arriving.delete(site);
    this.replays.delete(site);
  }

  override accept(site: string, now: number, model?: string): void {
    const round = this.arriving.get(site);
    if (round === undefined || (this.phase !== 'TRAIN' && !this.replays.has(site))) return super.accept(site, now, model);
    this.seen(site, now);
    if (!this.inFlight.delete(site)) throw new Refusal('stale_round', `the update from ${site} is no longer expected`);
    this.arriving.delete(site);
    if (this.replays.delete(site)) {
      if (model !== this.lastDigest.get(site)) {
        throw new Refusal('duplicate', `site ${site} already sent a different update for version ${round}: one update per site per version; ask NextTask for the newest model`);
      }
      return;
    }
    // The job's last version is decided (its buffer sealed): a buffer after it would never be applied.
    if (this.buffer.version() >= this.rules.rounds) throw new Refusal('stale_round', `the job made its last version (${this.rules.rounds}) while this update arrived`);
    // Again now: versions may have been made while it arrived; the buffer folds it in this same tick.
    this.checkStaleness(round);
    this.lastRound.set(site, round);
    if (model !== undefined) this.lastDigest.set(site, model);
    this.changes++;
  }

  override tick(now: number): Transition | null {
    if (this.phase !== 'TRAIN') return super.tick(now);
    if (this.closing) return null;
    const buffered = this.buffer.buffered();
    const full = buffered >= this.buffer.bufferSize;
    if (full || (now >= this.deadline && buffered >= Math.max(1, this.rules.minSites))) {
      this.closing = true;
      this.changes++;
      const participants = this.buffer.bufferedSites();
      this.buffer.seal();
      return { kind: 'close', phase: 'TRAIN', round: this.round, attempt: 0, participants, startedAt: this.startedAt };
    }
    if (now < this.deadline) return null;
    const seconds = this.rules.deadlineMs / 1000;
    const missed = `version ${this.round} missed its quorum: ${buffered} of ${this.buffer.bufferSize} updates buffered (at least ${this.rules.minSites} needed at the deadline) within ${seconds}s`;
    if (this.extensions < this.rules.maxRoundRetries) {
      // The buffer's accepted updates are kept: the wait is simply extended.
      this.extensions++;
      this.deadline = now + this.rules.deadlineMs;
      this.changes++;
      return null;
    }
    this.hold();
    const retries = this.rules.maxRoundRetries;
    return { kind: 'fail', reason: `${missed}, ${retries} ${retries === 1 ? 'extension' : 'extensions'} exhausted` };
  }

  protected override enter(phase: Phase, round: number, attempt: number, now: number): void {
    // Uploads keep arriving from one version to the next: only the end of training stops them.
    const keep = this.phase === 'TRAIN' && phase === 'TRAIN' ? new Set(this.inFlight) : null;
    super.enter(phase, round, attempt, now);
    this.extensions = 0;
    if (keep) this.inFlight = keep;
    else {
      this.arriving?.clear();
      this.replays?.clear();
    }
  }

  private checkStaleness(round: number): void {
    const version = this.buffer.version();
    const staleness = version - (round - 1);
    if (staleness > this.buffer.maxStaleness) {
      throw new Refusal(
        'stale_round',
        `the update was trained on version ${round - 1} and the model is at version ${version}: staleness ${staleness} is above maxStaleness ${this.buffer.maxStaleness}, so it is refused; ask NextTask for the newest model`,
      );
    }
  }
}
