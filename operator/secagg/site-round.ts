/**
 * One site's side of a secure-aggregation round: advertise two fresh X25519 public keys (signed),
 * share its secrets among its neighbours, send its update masked, and in the end reveal, for each
 * neighbour, one half of what it holds: the self-mask share of a survivor or the mask-key share of
 * a dropped site, never both for one site, and only once.
 */
import { randomBytes } from 'node:crypto';
import { signAdvertisement, verifyAdvertisement, type Advertisement, type SiteCredentials } from './advertisement.js';
import { SecAggRefusal } from './errors.js';
import { NeighbourGraph, smallGroup } from './graph.js';
import { agree, envelopeKey, generateX25519, open, seal, type X25519Pair } from './key-agreement.js';
import { addInto, maskKey, MaskStream, subtractInto } from './mask.js';
import { checkEnvelopes, checkSiteList, ENVELOPE_PLAINTEXT, type Envelope, type KeyDirectory, type UnmaskRequest, type UnmaskResponse } from './messages.js';
import { checkGraph, checkParams, checkSiteName, contextBytes, type RoundParams } from './params.js';
import { quantize } from './quantize.js';
import { SHARE_BYTES, encodeY, split } from './shamir.js';

type Step = 'advertise' | 'share' | 'collect' | 'unmask' | 'done';

/** The associated bytes of the envelope from `from` to `to`: it opens only there, only in this round. */
export function envelopeAad(params: RoundParams, from: string, to: string): Buffer {
  return Buffer.concat([contextBytes(params.context), Buffer.from(`share\0${from}\0${to}`)]);
}

export class SiteRound {
  private step: Step = 'advertise';
  private readonly maskPair: X25519Pair = generateX25519();
  private readonly envelopePair: X25519Pair = generateX25519();
  private neighbours = new Map<string, Advertisement>();
  private graph: NeighbourGraph | undefined;
  private selfSeed: Buffer | undefined;
  /** What neighbours sent us: their shares' y coordinates, by sender (the neighbours still in after the share stage). */
  private held = new Map<string, { selfMask: Buffer; maskKey: Buffer }>();
  /** Answers already given, so that a call repeated after a lost reply gets the same answer, and a different call none. */
  private advertised: Advertisement | undefined;
  private shared: { directory: string; envelopes: Envelope[] } | undefined;
  private unmasked: { survivors: string; response: UnmaskResponse } | undefined;

  constructor(
    readonly params: RoundParams,
    readonly site: string,
    private readonly credentials: SiteCredentials,
    /** The job CA's certificate that this site trusts (its own TLS trust anchor). */
    private readonly jobCaPem: string,
  ) {
    checkParams(params);
    checkSiteName(site);
  }

  private expect(step: Step): void {
    if (this.step !== step) throw new SecAggRefusal(`site ${this.site} is at the ${this.step} step of round ${this.params.context.round}, not ${step}`);
  }

  /** Stage 1: the two public keys, signed with the job certificate's key. */
  advertise(): Advertisement {
    if (this.advertised) return this.advertised;
    this.expect('advertise');
    this.step = 'share';
    return (this.advertised = signAdvertisement({ site: this.site, maskKey: this.maskPair.publicKey, envelopeKey: this.envelopePair.publicKey }, this.params.context, this.credentials));
  }

  /** Stage 2: checks the neighbours' advertisements, then seals shares of its secrets to each of them. */
  shareKeys(directory: KeyDirectory, now = new Date()): Envelope[] {
    const sites = checkSiteList('the directory', directory?.sites);
    const fingerprint = JSON.stringify([sites, (Array.isArray(directory.advertisements) ? directory.advertisements : []).map((ad) => ad?.signature?.toString('hex'))]);
    if (this.shared) {
      if (this.shared.directory === fingerprint) return this.shared.envelopes;
      throw new SecAggRefusal(`site ${this.site} has shared its secrets for another directory already: it shares them once per round`);
    }
    this.expect('share');
    if (!sites.includes(this.site)) throw new SecAggRefusal(`the directory does not name site ${this.site}`);
    checkGraph(this.params, sites.length);
    const graph = new NeighbourGraph(sites, this.params.neighbours, this.params.context);
    const near = graph.neighboursOf(this.site);
    if (near.length < this.params.threshold) throw new SecAggRefusal(`site ${this.site} has ${near.length} neighbours, fewer than the threshold ${this.params.threshold}`);
    if (!Array.isArray(directory.advertisements) || directory.advertisements.length !== near.length) {
      throw new SecAggRefusal(`the directory must carry the advertisements of exactly the ${near.length} neighbours of site ${this.site}`);
    }
    const ads = new Map<string, Advertisement>();
    for (const ad of directory.advertisements) {
      verifyAdvertisement(ad, this.params.context, this.jobCaPem, now);
      if (!near.includes(ad.site) || ads.has(ad.site)) throw new SecAggRefusal(`the directory's advertisement of site ${ad.site} is not one of a neighbour, or repeated`);
      ads.set(ad.site, ad);
    }
    this.neighbours = ads;
    this.graph = graph;
    this.selfSeed = randomBytes(32);
    const xs = near.map((v) => graph.xOf(v));
    const selfShares = split(this.selfSeed, this.params.threshold, xs);
    const keyShares = split(this.maskPair.privateKey, this.params.threshold, xs);
    this.step = 'collect';
    const envelopes = near.map((peer, i) => {
      const key = envelopeKey(this.envelopePair.privateKey, ads.get(peer)!.envelopeKey, this.params.context);
      const plaintext = Buffer.concat([encodeY(selfShares[i]!.y), encodeY(keyShares[i]!.y)]);
      return { peer, envelope: seal(key, plaintext, envelopeAad(this.params, this.site, peer)) };
    });
    this.shared = { directory: fingerprint, envelopes };
    return envelopes;
  }

  /**
   * Stage 3: opens the envelopes relayed from the neighbours still in, then yields the masked update
   * chunk by chunk: quantized values + self mask + a pairwise mask per neighbour (added towards a
   * site later in name order, subtracted towards one earlier, so that each pair cancels in the sum).
   */
  maskedInput(relayed: Envelope[], values: ArrayLike<number>, chunkWords = 1 << 16): Generator<Uint32Array> {
    this.expect('collect');
    if (values.length !== this.params.length) throw new SecAggRefusal(`the update has ${values.length} values, the round masks ${this.params.length}`);
    const envelopes = checkEnvelopes('the relayed envelopes', relayed);
    const held = new Map<string, { selfMask: Buffer; maskKey: Buffer }>();
    for (const [peer, envelope] of envelopes) {
      const ad = this.neighbours.get(peer);
      if (!ad) throw new SecAggRefusal(`an envelope from site ${peer}, which is not a neighbour of site ${this.site}`);
      const key = envelopeKey(this.envelopePair.privateKey, ad.envelopeKey, this.params.context);
      const plaintext = open(key, envelope, envelopeAad(this.params, peer, this.site));
      if (plaintext.length !== ENVELOPE_PLAINTEXT) throw new SecAggRefusal(`the envelope from site ${peer} holds ${plaintext.length} bytes`);
      held.set(peer, { selfMask: plaintext.subarray(0, SHARE_BYTES), maskKey: plaintext.subarray(SHARE_BYTES) });
    }
    this.held = held;
    this.step = 'unmask';
    const masks = [...held.keys()].map((peer) => ({
      add: this.site < peer,
      stream: new MaskStream(maskKey(agree(this.maskPair.privateKey, this.neighbours.get(peer)!.maskKey), this.params.context, 'pairwise mask')),
    }));
    return this.maskedChunks(values, chunkWords, new MaskStream(maskKey(this.selfSeed!, this.params.context, 'self mask')), masks);
  }

  private *maskedChunks(values: ArrayLike<number>, chunkWords: number, self: MaskStream, pairs: { add: boolean; stream: MaskStream }[]): Generator<Uint32Array> {
    const { clip, maxSites, length } = this.params;
    for (let start = 0; start < length; start += chunkWords) {
      const count = Math.min(chunkWords, length - start);
      const words = new Uint32Array(count);
      quantize(values, clip, maxSites, words, start);
      addInto(words, self.next(count));
      for (const pair of pairs) (pair.add ? addInto : subtractInto)(words, pair.stream.next(count));
      yield words;
    }
  }

  /**
   * Stage 4: for each neighbour it holds shares of, the self-mask share if the neighbour is a
   * survivor, the mask-key share if not. Refused when the survivors are fewer than the threshold
   * (the aggregator would learn a sum of too few sites) or do not include this site.
   */
  unmask(request: UnmaskRequest): UnmaskResponse {
    const survivors = new Set(checkSiteList('the survivors', request?.survivors));
    const fingerprint = [...survivors].sort().join(',');
    if (this.unmasked) {
      if (this.unmasked.survivors === fingerprint) return this.unmasked.response;
      throw new SecAggRefusal(`site ${this.site} has answered the unmask stage for other survivors already: it reveals one share per neighbour, once`);
    }
    this.expect('unmask');
    if (!survivors.has(this.site)) throw new SecAggRefusal(`the survivors do not include site ${this.site}`);
    if (survivors.size < this.params.threshold) {
      throw new SecAggRefusal(`site ${this.site} refuses to unmask a sum of ${survivors.size} sites, fewer than the threshold ${this.params.threshold}`);
    }
    if ([...survivors].some((s) => !this.graph!.has(s))) throw new SecAggRefusal('the survivors name a site that did not advertise keys');
    const small = smallGroup(this.graph!, survivors, this.params.threshold);
    if (small) throw new SecAggRefusal(`site ${this.site} refuses to unmask: the survivors split into groups that share no masks, and ${small}`);
    this.step = 'done';
    const response: UnmaskResponse = { selfMaskShares: [], maskKeyShares: [] };
    for (const [of, shares] of this.held) {
      if (survivors.has(of)) response.selfMaskShares.push({ of, y: shares.selfMask });
      else response.maskKeyShares.push({ of, y: shares.maskKey });
    }
    this.unmasked = { survivors: fingerprint, response };
    return response;
  }
}
