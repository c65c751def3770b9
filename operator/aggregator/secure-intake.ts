/**
 * The aggregator's side of secure aggregation on the wire: keeps one SecureRound per TRAIN attempt,
 * answers the sites' SecAgg calls (bounded long polls), folds SubmitMasked streams into the round's
 * masked sum chunk by chunk, closes stages on the aggregator's tick, and settles the attempt in the
 * round state once the sum is revealed (or the secure round failed, naming the stage and sites).
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MaskedMessage__Output } from '../federation/generated/flotilla/federation/v1/MaskedMessage.js';
import type { SecAggRequest__Output } from '../federation/generated/flotilla/federation/v1/SecAggRequest.js';
import type { SecAggResponse } from '../federation/generated/flotilla/federation/v1/SecAggResponse.js';
import type { SecAggParams } from '../federation/generated/flotilla/federation/v1/SecAggParams.js';
import type { Logger } from '../log.js';
import { SecAggRefusal } from '../secagg/errors.js';
import { wordsOf } from '../secagg/wire.js';
import { AggregatorAudit, UpdateReceipt } from './audit.js';
import { checkHeaderFigures } from './intake.js';
import type { JobState } from './job-state.js';
import type { JobSettings } from './job-settings.js';
import type { AggregatorMetrics } from './metrics.js';
import { Refusal } from './refusal.js';
import type { SiteRound } from './result.js';
import { refusalOf, SecureRound } from './secure-round.js';

/** Longest a SecAgg call is held: short of a heartbeat timeout, as the call is what keeps the site seen. */
const MAX_WAIT_MS = 5_000;
/** The most words one masked chunk may carry (4 MiB). */
export const MAX_MASKED_CHUNK_WORDS = 1 << 20;

export class SecureIntake {
  private current: SecureRound | null = null;
  /**
   * Secure rounds opened so far. A TRAIN task is handed out only with its secure round's
   * parameters, and that round opens a tick after the round state moved to the attempt: sites that
   * asked in between wait for this to change (Aggregator.tick wakes them on it).
   */
  opened = 0;
  private entries = new Map<string, SiteRound>();

  constructor(
    private readonly settings: JobSettings,
    private readonly job: JobState,
    private readonly jobCaPem: string,
    private readonly stateDir: string,
    private readonly audit: AggregatorAudit,
    private readonly metrics: AggregatorMetrics,
    private readonly log: Logger,
  ) {}

  /** The parameters a TRAIN task of this attempt carries; null until the attempt's secure round exists. */
  paramsFor(round: number, attempt: number): SecAggParams | null {
    const secure = this.current;
    return secure && secure.round === round && secure.attempt === attempt ? secure.wire : null;
  }

  private roundFor(site: string, round: number, attempt: number): SecureRound {
    const secure = this.current;
    if (!secure || secure.round !== round || secure.attempt !== attempt || !this.job.roundState.isOpenFor(site, round)) {
      throw new Refusal('stale_round', `no secure aggregation of round ${round} attempt ${attempt} is open for site ${site}; ask NextTask for work`);
    }
    return secure;
  }

  /** SecAgg: takes what the site sent, then waits (up to waitMs) for what its next stage needs. */
  async call(site: string, request: SecAggRequest__Output, seen: () => void, cancelled: () => boolean): Promise<SecAggResponse> {
    const secure = this.roundFor(site, request.round, request.attempt);
    secure.receive(site, request);
    const until = Date.now() + Math.min(request.waitMs, MAX_WAIT_MS);
    for (;;) {
      seen();
      if (this.current !== secure) throw new Refusal('stale_round', `the secure aggregation of round ${request.round} attempt ${request.attempt} is over; ask NextTask for work`);
      const answer = secure.answer(site);
      if (answer) return answer;
      const left = until - Date.now();
      if (left <= 0 || cancelled()) return { wait: true };
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([secure.changed(), new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
  }

  /** SubmitMasked: folds the site's masked words into the round's sum as they come; refused, it leaves the sum as it was. */
  async submit(site: string, messages: AsyncIterable<MaskedMessage__Output>, seen: () => void): Promise<{ round: number; bytesReceived: number }> {
    const receipt = new UpdateReceipt();
    try {
      return await this.receive(site, messages, receipt, seen);
    } catch (err) {
      await this.audit.refused(site, receipt, err);
      throw err;
    }
  }

  private async receive(site: string, messages: AsyncIterable<MaskedMessage__Output>, receipt: UpdateReceipt, seen: () => void) {
    const iterator = messages[Symbol.asyncIterator]();
    const first = await iterator.next();
    const header = first.done ? null : first.value.header;
    if (!header) throw new Refusal('malformed_stream', 'a masked update stream starts with its UpdateHeader');
    receipt.header = header;
    if (header.kind !== 'TRAIN') throw new Refusal('wrong_phase', `a masked update is a TRAIN update, not ${header.kind}`);
    checkHeaderFigures(header);
    const secure = this.roundFor(site, header.round, header.attempt);
    const entry = this.job.secureEntry(site, header);
    const upload = secure.beginMasked(site);
    const started = performance.now();
    let finished = false;
    try {
      let expected = 0;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        const chunk = next.value.chunk;
        if (!chunk) throw new Refusal('malformed_stream', 'a second UpdateHeader in one masked update stream');
        if (chunk.offset !== expected) throw new Refusal('malformed_stream', `a masked chunk at word ${chunk.offset}; the next word expected is ${expected}`);
        if (chunk.words.length > MAX_MASKED_CHUNK_WORDS * 4) throw new Refusal('too_large', `a masked chunk of ${chunk.words.length} bytes; chunks carry at most ${MAX_MASKED_CHUNK_WORDS * 4}`);
        let words: Uint32Array;
        try {
          words = wordsOf(chunk.words);
        } catch (err) {
          throw refusalOf(err);
        }
        seen();
        receipt.content.add(chunk.words);
        upload.fold(words);
        expected += words.length;
        this.metrics.bytesReceived.inc({ site }, chunk.words.length);
      }
      upload.finish();
      finished = true;
    } finally {
      if (!finished) upload.abort();
    }
    this.entries.set(site, entry);
    this.metrics.accepted(site, { kind: header.kind, numSamples: header.numSamples, eval: entry.eval }, (performance.now() - started) / 1000);
    await this.audit.accepted(site, receipt);
    return { round: header.round, bytesReceived: receipt.content.bytes };
  }

  /** Keeps the attempt's secure round in step with the round state, and closes its stages when due. */
  tick(now: number): void {
    const rounds = this.job.roundState;
    const { phase, round, attempt, closing } = rounds.position;
    const current = this.current;
    if (current && (phase !== 'TRAIN' || current.round !== round || current.attempt !== attempt)) this.end();
    if (phase !== 'TRAIN' || closing) return;
    if (!this.current) {
      try {
        const sites = this.settings.sites.length;
        const journalDir = path.join(this.stateDir, 'journal');
        this.current = new SecureRound(round, attempt, rounds.selected, this.settings.secureAggregation!, { ...this.settings, sites, length: this.job.modelLength(), jobCaPem: this.jobCaPem, journalDir }, now);
      } catch (err) {
        if (!(err instanceof SecAggRefusal)) throw err;
        const why = `secure aggregation cannot run round ${round} with sites ${rounds.selected.join(', ')}: ${err.message}`;
        this.log.warn(why, { round, attempt });
        rounds.settle([], rounds.selected, why, now);
        return;
      }
      this.entries = new Map();
      this.opened++;
      this.log.info('secure aggregation round opened', { round, attempt, sites: rounds.selected, threshold: this.current.params.threshold, neighbours: this.current.params.neighbours });
    }
    const secure = this.current!;
    const before = secure.current;
    const outcome = secure.tick(now, (site) => rounds.isOpenFor(site, round), rounds.deadlineAt ?? now);
    if (secure.current !== before) this.log.info('secure aggregation stage closed', { round, attempt, stage: before, next: secure.current, dropped: secure.droppedSites() });
    if (!outcome) {
      const gone = secure.droppedSites().filter((site) => rounds.isOpenFor(site, round));
      if (gone.length > 0) rounds.settle([], gone, `secure aggregation counted ${gone.join(', ')} dropped`, now);
      return;
    }
    if (outcome.kind === 'failed') {
      this.log.warn(outcome.error.message, { round, attempt, stage: outcome.error.stage, sites: outcome.error.sites });
      rounds.settle([], rounds.selected, outcome.error.message, now);
      return;
    }
    const { result, figures } = outcome;
    this.job.acceptSecureSum(result.sum, result.sites.map((site) => this.entries.get(site)!), figures);
    const dropped = [...result.dropped.keys()].filter((site) => !result.sites.includes(site));
    rounds.settle(result.sites, dropped, `secure aggregation counted ${dropped.join(', ')} dropped`, now);
    this.log.info('secure aggregation revealed the sum', { round, attempt, sites: result.sites, dropped: figures.dropped, stageSeconds: figures.stageSeconds });
  }

  private end(): void {
    this.current?.dispose();
    this.current = null;
    this.entries = new Map();
  }
}
