/**
 * The aggregator's side of a secure-aggregation round, stage by stage. It relays what sites send
 * one another, folds masked updates into one running sum as their chunks arrive (memory: one model,
 * whatever the number of sites), and learns only the sum of the survivors, once at least the
 * threshold's worth of them are in. A stage is closed by the caller (on quorum or a deadline);
 * who has not answered by then is counted dropped, and is refused for the rest of the round.
 */
import { verifyAdvertisement, type Advertisement } from './advertisement.js';
import { SecAggRefusal, SecAggRoundFailed, type Stage } from './errors.js';
import { NeighbourGraph, smallGroup } from './graph.js';
import { FoldJournal } from './journal.js';
import { addInto, subtractInto } from './mask.js';
import { checkEnvelopes, checkRevealed, checkSiteList, type Envelope, type KeyDirectory, type UnmaskRequest, type UnmaskResponse } from './messages.js';
import { checkParams, type RoundParams } from './params.js';
import { dequantize } from './quantize.js';
import { rebuiltKeyMatches, removeMasks, type DroppedSite } from './recovery.js';
import { combine, decodeY, type Share } from './shamir.js';

export interface SecAggResult {
  /** The sum of the survivors' clipped updates, within quantizationBound of it. */
  sum: Float64Array;
  /** The sites whose updates are in the sum. */
  sites: string[];
  /** The sites counted dropped, with the stage they were dropped at. */
  dropped: Map<string, Stage>;
}

/** One site's masked update arriving in chunks; see ServerRound.beginMaskedInput. */
export interface MaskedUpload {
  fold(words: Uint32Array): void;
  /** Counts the update in; refused unless every word arrived. */
  finish(): void;
  /** Takes what was folded out of the sum again: the site is dropped. */
  abort(): void;
}

export class ServerRound {
  private stage: Stage | 'done' | 'failed' = 'advertise';
  private readonly invited: Set<string>;
  readonly dropped = new Map<string, Stage>();
  private readonly ads = new Map<string, Advertisement>();
  private graph: NeighbourGraph | undefined;
  private readonly sealed = new Map<string, Map<string, Buffer>>();
  private readonly relay = new Map<string, Envelope[]>();
  private sum = new Uint32Array(0);
  private readonly uploading = new Map<string, FoldJournal>();
  private readonly completed = new Set<string>();
  private readonly responses = new Map<string, { self: Map<string, bigint>; key: Map<string, bigint> }>();

  constructor(
    readonly params: RoundParams,
    sites: string[],
    /** The job CA's certificate: advertisements are checked here too, so that a forged one drops only its sender. */
    private readonly jobCaPem: string,
    private readonly journalDir?: string,
  ) {
    this.invited = new Set(checkSiteList('the invited sites', sites));
    checkParams(params, this.invited.size);
  }

  /** Throws SecAggRefusal unless `site` may speak at `stage` now: in the round, not dropped, and the round there. */
  private admit(site: string, stage: Stage, members: { has(site: string): boolean }): void {
    const round = this.params.context.round;
    if (!this.invited.has(site)) throw new SecAggRefusal(`site ${site} is not in secure-aggregation round ${round}`);
    const gone = this.dropped.get(site);
    if (gone) throw new SecAggRefusal(`site ${site} was counted dropped at stage ${gone} of round ${round} and is refused for the rest of it`);
    if (this.stage !== stage) throw new SecAggRefusal(`round ${round} is at stage ${this.stage}, not ${stage}`);
    if (!members.has(site)) throw new SecAggRefusal(`site ${site} did not take part in the stage before ${stage}`);
  }

  private fail(stage: Stage, sites: Iterable<string>, why: string): never {
    this.stage = 'failed';
    for (const journal of this.uploading.values()) journal.close();
    this.uploading.clear();
    throw new SecAggRoundFailed(stage, [...new Set(sites)].sort(), why);
  }

  private dropAll(stage: Stage, before: Iterable<string>, after: Set<string>): string[] {
    const gone = [...before].filter((s) => !after.has(s) && !this.dropped.has(s));
    for (const site of gone) this.dropped.set(site, stage);
    return gone;
  }

  receiveAdvertisement(site: string, ad: Advertisement, now = new Date()): void {
    this.admit(site, 'advertise', this.invited);
    if (this.ads.has(site)) throw new SecAggRefusal(`site ${site} has advertised already`);
    if (ad?.site !== site) throw new SecAggRefusal(`site ${site} sent an advertisement for ${JSON.stringify(ad?.site)?.slice(0, 80)}`);
    // The sites check every advertisement they are given (the relay may be the attacker); checking
    // here as well keeps a forged one from reaching them, where it would stop all its neighbours.
    verifyAdvertisement(ad, this.params.context, this.jobCaPem, now);
    this.ads.set(site, ad);
  }

  closeAdvertise(): void {
    if (this.stage !== 'advertise') throw new SecAggRefusal(`round is at stage ${this.stage}`);
    const gone = this.dropAll('advertise', this.invited, new Set(this.ads.keys()));
    const { threshold, neighbours, context } = this.params;
    if (this.ads.size - 1 < threshold) {
      this.fail('advertise', gone, `${this.ads.size} sites advertised keys; each needs ${threshold} neighbours (missing: ${gone.join(', ')})`);
    }
    this.graph = new NeighbourGraph(this.ads.keys(), neighbours, context);
    this.stage = 'share';
  }

  directoryFor(site: string): KeyDirectory {
    this.admit(site, 'share', this.ads);
    return { sites: [...this.graph!.sites], advertisements: this.graph!.neighboursOf(site).map((v) => this.ads.get(v)!) };
  }

  receiveShares(site: string, envelopes: Envelope[]): void {
    this.admit(site, 'share', this.ads);
    if (this.sealed.has(site)) throw new SecAggRefusal(`site ${site} has sent its shares already`);
    const byPeer = checkEnvelopes(`site ${site}'s shares`, envelopes);
    const near = this.graph!.neighboursOf(site);
    if (byPeer.size !== near.length || near.some((v) => !byPeer.has(v))) {
      throw new SecAggRefusal(`site ${site} must send one envelope to each of its ${near.length} neighbours`);
    }
    this.sealed.set(site, byPeer);
  }

  /** Closes the share stage: every site still in must have its secrets held by at least the threshold of its neighbours. */
  closeShare(): void {
    if (this.stage !== 'share') throw new SecAggRefusal(`round is at stage ${this.stage}`);
    const gone = this.dropAll('share', this.ads.keys(), new Set(this.sealed.keys()));
    const short = [...this.sealed.keys()].filter((u) => this.graph!.neighboursOf(u).filter((v) => this.sealed.has(v)).length < this.params.threshold);
    if (this.sealed.size < this.params.threshold || short.length > 0) {
      this.fail('share', gone, `sites ${short.join(', ') || '(all)'} would have fewer than ${this.params.threshold} neighbours holding their shares (dropped: ${gone.join(', ')})`);
    }
    for (const [from, byPeer] of this.sealed) {
      for (const [to, envelope] of byPeer) if (this.sealed.has(to)) (this.relay.get(to) ?? this.relay.set(to, []).get(to)!).push({ peer: from, envelope });
    }
    this.sum = new Uint32Array(this.params.length);
    this.stage = 'collect';
  }

  envelopesFor(site: string): Envelope[] {
    this.admit(site, 'collect', this.sealed);
    return this.relay.get(site) ?? [];
  }

  beginMaskedInput(site: string): MaskedUpload {
    this.admit(site, 'collect', this.sealed);
    if (this.uploading.has(site) || this.completed.has(site)) throw new SecAggRefusal(`site ${site} has sent its masked update already`);
    const journal = new FoldJournal(this.journalDir);
    this.uploading.set(site, journal);
    let offset = 0;
    const live = () => {
      if (this.uploading.get(site) !== journal) throw new SecAggRefusal(`site ${site}'s masked update is no longer taken`);
    };
    const abort = () => {
      if (this.uploading.get(site) !== journal) return;
      journal.replay((words, at) => subtractInto(this.sum, words, at));
      journal.close();
      this.uploading.delete(site);
    };
    return {
      fold: (words) => {
        live();
        if (!(words instanceof Uint32Array)) {
          abort();
          throw new SecAggRefusal(`site ${site}'s masked update must be 32-bit words`);
        }
        if (offset + words.length > this.params.length) {
          abort();
          throw new SecAggRefusal(`site ${site}'s masked update is longer than the ${this.params.length} words of the round`);
        }
        journal.append(words);
        addInto(this.sum, words, offset);
        offset += words.length;
      },
      finish: () => {
        live();
        if (offset !== this.params.length) {
          abort();
          throw new SecAggRefusal(`site ${site}'s masked update ended after ${offset} of ${this.params.length} words`);
        }
        journal.close();
        this.uploading.delete(site);
        this.completed.add(site);
      },
      abort,
    };
  }

  /** Closes the collect stage; unfinished uploads are taken out and their sites dropped. */
  closeCollect(): UnmaskRequest {
    if (this.stage !== 'collect') throw new SecAggRefusal(`round is at stage ${this.stage}`);
    for (const journal of this.uploading.values()) {
      journal.replay((words, at) => subtractInto(this.sum, words, at));
      journal.close();
    }
    this.uploading.clear();
    const gone = this.dropAll('collect', this.sealed.keys(), this.completed);
    if (this.completed.size < this.params.threshold) {
      this.fail('collect', gone, `${this.completed.size} masked updates arrived, fewer than the threshold ${this.params.threshold} (dropped: ${gone.join(', ')})`);
    }
    const small = smallGroup(this.graph!, this.completed, this.params.threshold);
    if (small) this.fail('collect', [...gone, ...this.graph!.groupsAmong(this.completed).filter((g) => g.length < this.params.threshold).flat()], `the survivors split into groups that share no masks: ${small} (dropped: ${gone.join(', ')})`);
    this.stage = 'unmask';
    return { survivors: [...this.completed].sort() };
  }

  receiveUnmask(site: string, response: UnmaskResponse): void {
    this.admit(site, 'unmask', this.completed);
    if (this.responses.has(site)) throw new SecAggRefusal(`site ${site} has answered the unmask stage already`);
    const self = checkRevealed(`site ${site}'s self-mask shares`, response?.selfMaskShares);
    const key = checkRevealed(`site ${site}'s mask-key shares`, response?.maskKeyShares);
    const held = this.graph!.neighboursOf(site).filter((v) => this.sealed.has(v));
    const wantSelf = held.filter((v) => this.completed.has(v));
    const wantKey = held.filter((v) => !this.completed.has(v));
    if (self.size !== wantSelf.length || wantSelf.some((v) => !self.has(v)) || key.size !== wantKey.length || wantKey.some((v) => !key.has(v))) {
      throw new SecAggRefusal(`site ${site} must reveal self-mask shares of exactly ${wantSelf.join(', ') || 'none'} and mask-key shares of exactly ${wantKey.join(', ') || 'none'}`);
    }
    const decode = (shares: Map<string, Buffer>) => new Map([...shares].map(([of, y]) => [of, decodeY(y)]));
    this.responses.set(site, { self: decode(self), key: decode(key) });
  }

  private sharesOf(of: string, kind: 'self' | 'key'): Share[] {
    return this.graph!.neighboursOf(of).flatMap((holder) => {
      const y = this.responses.get(holder)?.[kind].get(of);
      return y === undefined ? [] : [{ x: this.graph!.xOf(holder), y }];
    });
  }

  /** Closes the unmask stage: rebuilds the secrets, takes the masks out and returns the sum. */
  closeUnmask(): SecAggResult {
    if (this.stage !== 'unmask') throw new SecAggRefusal(`round is at stage ${this.stage}`);
    const gone = this.dropAll('unmask', this.completed, new Set(this.responses.keys()));
    const { threshold } = this.params;
    const droppedBefore = [...this.sealed.keys()].filter((v) => !this.completed.has(v));
    const unrecoverable = [
      ...[...this.completed].filter((u) => this.sharesOf(u, 'self').length < threshold),
      ...droppedBefore.filter((v) => this.sharesOf(v, 'key').length < threshold),
    ];
    if (unrecoverable.length > 0) {
      this.fail('unmask', [...gone, ...unrecoverable], `the masks of sites ${unrecoverable.join(', ')} cannot be removed: fewer than ${threshold} of their neighbours answered (silent: ${gone.join(', ')})`);
    }
    const selfSeeds = [...this.completed].map((u) => combine(this.sharesOf(u, 'self'), threshold));
    const dropped: DroppedSite[] = droppedBefore.map((v) => {
      const maskPrivateKey = combine(this.sharesOf(v, 'key'), threshold);
      if (!rebuiltKeyMatches(maskPrivateKey, this.ads.get(v)!.maskKey)) {
        this.fail('unmask', [v], `the shares of site ${v}'s mask key do not rebuild the key it advertised: a neighbour revealed a wrong share`);
      }
      const survivingNeighbours = this.graph!.neighboursOf(v).filter((w) => this.completed.has(w)).map((w) => ({ site: w, maskKey: this.ads.get(w)!.maskKey }));
      return { site: v, maskPrivateKey, survivingNeighbours };
    });
    removeMasks(this.sum, this.params, selfSeeds, dropped);
    const sum = new Float64Array(this.params.length);
    dequantize(this.sum, this.params.clip, this.params.maxSites, sum);
    this.stage = 'done';
    return { sum, sites: [...this.completed].sort(), dropped: new Map(this.dropped) };
  }
}
