/**
 * The secure-aggregation messages as the federation protocol carries them (SecAgg, SubmitMasked),
 * and back. Only shapes change here; every receiver still checks what it is given (messages.ts).
 */
import type { SecAggAdvertisement, SecAggAdvertisement__Output } from '../federation/generated/flotilla/federation/v1/SecAggAdvertisement.js';
import type { SecAggEnvelope, SecAggEnvelope__Output } from '../federation/generated/flotilla/federation/v1/SecAggEnvelope.js';
import type { SecAggParams, SecAggParams__Output } from '../federation/generated/flotilla/federation/v1/SecAggParams.js';
import type { SecAggShare__Output } from '../federation/generated/flotilla/federation/v1/SecAggShare.js';
import type { SecAggUnmask, SecAggUnmask__Output } from '../federation/generated/flotilla/federation/v1/SecAggUnmask.js';
import type { Advertisement } from './advertisement.js';
import { SecAggRefusal } from './errors.js';
import type { Envelope, RevealedShare, UnmaskResponse } from './messages.js';
import type { RoundContext, RoundParams } from './params.js';

export function advertisementToWire(ad: Advertisement): SecAggAdvertisement {
  return { site: ad.site, maskKey: ad.maskKey, envelopeKey: ad.envelopeKey, certPem: ad.certPem, signature: ad.signature };
}

export function advertisementFromWire(ad: SecAggAdvertisement__Output | null | undefined): Advertisement {
  if (!ad) throw new SecAggRefusal('an advertisement is missing');
  return { site: ad.site, maskKey: ad.maskKey, envelopeKey: ad.envelopeKey, certPem: ad.certPem, signature: ad.signature };
}

export const envelopesToWire = (list: readonly Envelope[]): SecAggEnvelope[] => list.map((e) => ({ peer: e.peer, envelope: e.envelope }));
export const envelopesFromWire = (list: readonly SecAggEnvelope__Output[] | undefined): Envelope[] => (list ?? []).map((e) => ({ peer: e.peer, envelope: e.envelope }));

const sharesFromWire = (list: readonly SecAggShare__Output[] | undefined): RevealedShare[] => (list ?? []).map((s) => ({ of: s.of, y: s.y }));

export function unmaskToWire(response: UnmaskResponse): SecAggUnmask {
  return { selfMaskShares: response.selfMaskShares, maskKeyShares: response.maskKeyShares };
}

export function unmaskFromWire(response: SecAggUnmask__Output | null | undefined): UnmaskResponse {
  return { selfMaskShares: sharesFromWire(response?.selfMaskShares), maskKeyShares: sharesFromWire(response?.maskKeyShares) };
}

export function paramsToWire(params: RoundParams): SecAggParams {
  const { nonce } = params.context;
  return { nonce, neighbours: params.neighbours, threshold: params.threshold, length: params.length, clip: params.clip, maxSites: params.maxSites };
}

/** The round's parameters as a site reads them from its task; checkParams (in SiteRound) bounds them. */
export function paramsFromWire(wire: SecAggParams__Output, context: Omit<RoundContext, 'nonce'>): RoundParams {
  return {
    context: { ...context, nonce: wire.nonce },
    neighbours: wire.neighbours,
    threshold: wire.threshold,
    length: wire.length,
    clip: wire.clip,
    maxSites: wire.maxSites,
  };
}

/** Little-endian words from a chunk's bytes (copied: the bytes need not be 4-byte aligned). */
export function wordsOf(bytes: Buffer): Uint32Array {
  if (bytes.length % 4 !== 0) throw new SecAggRefusal(`a masked chunk of ${bytes.length} bytes is not whole 32-bit words`);
  const words = new Uint32Array(bytes.length / 4);
  Buffer.from(words.buffer).set(bytes);
  return words;
}

export function bytesOf(words: Uint32Array): Buffer {
  return Buffer.from(words.buffer, words.byteOffset, words.byteLength);
}
