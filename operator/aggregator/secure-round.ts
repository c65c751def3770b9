/**
 * One attempt of a TRAIN round under secure aggregation, as the aggregator runs it over the wire:
 * a ServerRound (operator/secagg) plus the clock that closes its stages and the answers each site's
 * SecAgg call gets. A stage closes once every site still in the round has answered it, or at its
 * timeout (the collect stage, in which the sites train: one stage timeout before the round's
 * deadline, leaving the unmask stage its time); who has not answered by then is counted dropped.
 */
import { randomBytes } from 'node:crypto';
import type { SecAggRequest__Output } from '../federation/generated/flotilla/federation/v1/SecAggRequest.js';
import type { SecAggResponse } from '../federation/generated/flotilla/federation/v1/SecAggResponse.js';
import { SecAggRefusal, SecAggRoundFailed, type Stage } from '../secagg/errors.js';
import type { RoundParams } from '../secagg/params.js';
import { ServerRound, type MaskedUpload, type SecAggResult } from '../secagg/server-round.js';
import { advertisementFromWire, advertisementToWire, envelopesFromWire, envelopesToWire, paramsToWire, unmaskFromWire } from '../secagg/wire.js';
import { Refusal } from './refusal.js';

export interface SecureAggregationSettings {
  threshold: number;
  /** Unset: every other site of the round. */
  neighbours: number | undefined;
  clip: number;
  stageTimeoutMs: number;
}

/** What summary.json and result.json tell of a secure round. */
export interface SecureRoundFigures {
  threshold: number;
  neighbours: number;
  /** The sites whose updates are in the sum. */
  sites: string[];
  /** Sites counted dropped, with the stage. */
  dropped: Record<string, Stage>;
  /** How long each stage was open. */
  stageSeconds: Partial<Record<Stage, number>>;
  /** Masked words received, in bytes, over all sites. */
  maskedBytes: number;
}

export type SecureOutcome = { kind: 'done'; result: SecAggResult; figures: SecureRoundFigures } | { kind: 'failed'; error: SecAggRoundFailed };

const STAGES: Stage[] = ['advertise', 'share', 'collect', 'unmask'];

/**
 * A SecAggRefusal as the site hears it: INVALID_ARGUMENT for what is malformed or forged, or
 * FAILED_PRECONDITION for a call the round is past (the site was counted dropped, the stage moved
 * on), which a client answers by asking NextTask again. ServerRound words those the same each time.
 */
export function refusalOf(err: unknown): unknown {
  if (!(err instanceof SecAggRefusal)) return err;
  const late = /counted dropped|is at stage|no longer taken|did not take part/.test(err.message);
  return new Refusal(late ? 'stale_round' : 'malformed_stream', `secure aggregation: ${err.message}`);
}

export class SecureRound {
  readonly params: RoundParams;
  private readonly server: ServerRound;
  private stage: Stage | 'done' | 'failed' = 'advertise';
  private openedAt: number;
  private readonly stageSeconds: Partial<Record<Stage, number>> = {};
  private readonly answered: Record<Stage, Set<string>> = { advertise: new Set(), share: new Set(), collect: new Set(), unmask: new Set() };
  private readonly uploading = new Map<string, MaskedUpload>();
  /** Each site's advertisement signature: one that comes with other keys is a client that restarted and lost its own. */
  private readonly signatures = new Map<string, string>();
  /** Sites that came back with new keys: out of this round (their neighbours hold shares for the old ones). */
  private readonly lostKeys = new Set<string>();
  private readonly stageTimeoutMs: number;
  private maskedBytes = 0;
  private survivors: string[] = [];
  outcome: SecureOutcome | null = null;
  private wake = deferred();

  constructor(
    readonly round: number,
    readonly attempt: number,
    private readonly selected: readonly string[],
    settings: SecureAggregationSettings,
    job: { namespace: string; job: string; sites: number; length: number; jobCaPem: string; journalDir: string },
    now: number,
  ) {
    const m = selected.length;
    this.params = {
      context: { namespace: job.namespace, job: job.job, round, nonce: randomBytes(16) },
      neighbours: Math.min(settings.neighbours ?? m - 1, m - 1),
      threshold: settings.threshold,
      length: job.length,
      clip: settings.clip,
      maxSites: Math.max(3, job.sites),
    };
    this.openedAt = now;
    // Throws SecAggRefusal when the round cannot work with this selection: the caller fails the attempt.
    this.server = new ServerRound(this.params, [...selected], job.jobCaPem, job.journalDir);
    this.stageTimeoutMs = settings.stageTimeoutMs;
  }

  get wire() {
    return paramsToWire(this.params);
  }

  /** The stage in progress. */
  get current(): Stage | 'done' | 'failed' {
    return this.stage;
  }

  /** The sites counted dropped so far, and those that came back with new keys. */
  droppedSites(): string[] {
    return [...new Set([...this.server.dropped.keys(), ...this.lostKeys])];
  }

  /** Resolves at the next change of what some site's call would be answered. */
  changed(): Promise<void> {
    return this.wake.promise;
  }

  private bump(): void {
    const wake = this.wake;
    this.wake = deferred();
    wake.resolve();
  }

  /** Takes what the site sent (refused with a Refusal, changing nothing, when it may not). A repeat after a lost answer is ignored. */
  receive(site: string, request: SecAggRequest__Output, now = new Date()): void {
    if (this.lostKeys.has(site)) throw this.lostKeysRefusal(site);
    if (!request.body) return;
    const stage: Stage = request.body === 'advertisement' ? 'advertise' : request.body === 'shares' ? 'share' : 'unmask';
    if (request.body === 'advertisement' && this.signatures.has(site) && this.signatures.get(site) !== Buffer.from(request.advertisement?.signature ?? []).toString('hex')) {
      this.lostKeys.add(site);
      this.bump();
      throw this.lostKeysRefusal(site);
    }
    if (this.answered[stage].has(site)) return;
    try {
      if (request.body === 'advertisement') this.server.receiveAdvertisement(site, advertisementFromWire(request.advertisement), now);
      else if (request.body === 'shares') this.server.receiveShares(site, envelopesFromWire(request.shares?.envelopes));
      else this.server.receiveUnmask(site, unmaskFromWire(request.unmask));
    } catch (err) {
      throw refusalOf(err);
    }
    this.answered[stage].add(site);
    if (request.body === 'advertisement') this.signatures.set(site, Buffer.from(request.advertisement!.signature).toString('hex'));
    this.bump();
  }

  private lostKeysRefusal(site: string): Refusal {
    return new Refusal('stale_round', `site ${site} advertised other keys for round ${this.round} already (a client restarted mid-round?): its neighbours hold shares for the first ones; it takes part again from the next round`);
  }

  /** What the site's next stage needs, or null while its stage is open. */
  answer(site: string): SecAggResponse | null {
    if (this.stage === 'failed') throw new Refusal('stale_round', (this.outcome as { error: Error }).error.message);
    if (this.lostKeys.has(site)) throw this.lostKeysRefusal(site);
    const gone = this.server.dropped.get(site);
    if (gone) throw new Refusal('stale_round', `site ${site} was counted dropped at stage ${gone} of the secure aggregation of round ${this.round} and is refused for the rest of it`);
    try {
      switch (this.stage) {
        case 'advertise':
          return null;
        case 'share': {
          if (this.answered.share.has(site)) return null;
          const directory = this.server.directoryFor(site);
          return { directory: { sites: directory.sites, advertisements: directory.advertisements.map(advertisementToWire) } };
        }
        case 'collect':
          return this.answered.collect.has(site) ? null : { relayed: { envelopes: envelopesToWire(this.server.envelopesFor(site)) } };
        case 'unmask':
          return this.answered.unmask.has(site) ? null : { survivors: { sites: this.survivors } };
        case 'done':
          return { done: { sites: this.survivors } };
      }
    } catch (err) {
      throw refusalOf(err);
    }
  }

  /** A site's masked update arriving; SubmitMasked drives it. */
  beginMasked(site: string): MaskedUpload {
    let upload: MaskedUpload;
    try {
      upload = this.server.beginMaskedInput(site);
    } catch (err) {
      throw refusalOf(err);
    }
    this.uploading.set(site, upload);
    const end = () => this.uploading.delete(site);
    return {
      fold: (words) => {
        try {
          upload.fold(words);
        } catch (err) {
          end();
          throw refusalOf(err);
        }
        this.maskedBytes += words.byteLength;
      },
      finish: () => {
        try {
          upload.finish();
        } catch (err) {
          throw refusalOf(err);
        } finally {
          end();
        }
        this.answered.collect.add(site);
        this.bump();
      },
      abort: () => {
        end();
        upload.abort();
      },
    };
  }

  /**
   * Closes the stage in progress when it is due. `stillIn` says whether a site may still answer (not
   * silent past the heartbeat timeout, not done); `deadline` is the round's.
   */
  tick(now: number, stillIn: (site: string) => boolean, deadline: number): SecureOutcome | null {
    if (this.stage === 'done' || this.stage === 'failed') return null;
    const waitingFor: readonly string[] =
      this.stage === 'advertise' ? this.selected : [...this.answered[STAGES[STAGES.indexOf(this.stage) - 1]!]];
    const everyone = waitingFor.every((s) => this.answered[this.stage as Stage].has(s) || (!stillIn(s) && !this.uploading.has(s)));
    const due = this.stage === 'collect' ? deadline - this.stageTimeoutMs : this.openedAt + this.stageTimeoutMs;
    if (!everyone && now < due) return null;
    const stage = this.stage;
    this.stageSeconds[stage] = (now - this.openedAt) / 1000;
    try {
      if (stage === 'advertise') this.server.closeAdvertise();
      else if (stage === 'share') this.server.closeShare();
      else if (stage === 'collect') this.survivors = this.server.closeCollect().survivors;
      else {
        const result = this.server.closeUnmask();
        this.outcome = { kind: 'done', result, figures: this.figures(result.sites) };
      }
    } catch (err) {
      if (!(err instanceof SecAggRoundFailed)) throw err;
      this.stage = 'failed';
      this.outcome = { kind: 'failed', error: err };
      this.bump();
      return this.outcome;
    }
    this.openedAt = now;
    this.stage = stage === 'unmask' ? 'done' : STAGES[STAGES.indexOf(stage) + 1]!;
    this.bump();
    return this.outcome;
  }

  /** The attempt is over (closed, retried or abandoned): uploads still arriving are taken out, their journals removed. */
  dispose(): void {
    for (const upload of [...this.uploading.values()]) upload.abort();
    this.uploading.clear();
  }

  private figures(sites: string[]): SecureRoundFigures {
    return {
      threshold: this.params.threshold,
      neighbours: this.params.neighbours,
      sites,
      dropped: Object.fromEntries([...this.server.dropped].sort()),
      stageSeconds: { ...this.stageSeconds },
      maskedBytes: this.maskedBytes,
    };
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
