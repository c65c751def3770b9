/**
 * What travels in each stage of a round, and the checks every receiver applies to it before it
 * touches any state. Sites address one another by site name; the aggregator relays.
 */
import type { Advertisement } from './advertisement.js';
import { SecAggRefusal } from './errors.js';
import { ENVELOPE_OVERHEAD } from './key-agreement.js';
import { checkSiteName, MAX_SITES } from './params.js';
import { SHARE_BYTES } from './shamir.js';

/** A share envelope's plaintext: the y coordinates of the self-mask seed's share and of the mask key's. */
export const ENVELOPE_PLAINTEXT = 2 * SHARE_BYTES;
export const ENVELOPE_BYTES = ENVELOPE_PLAINTEXT + ENVELOPE_OVERHEAD;

/** Aggregator to site, after the advertise stage: who advertised, and the advertisements of the site's neighbours. */
export interface KeyDirectory {
  sites: string[];
  advertisements: Advertisement[];
}

/** Site to aggregator (share stage), or aggregator to site (collect stage): sealed shares. */
export interface Envelope {
  /** The other end: the addressee when a site sends it, the sender when the aggregator relays it. */
  peer: string;
  envelope: Buffer;
}

/** Aggregator to site, after the collect stage: the sites whose masked updates are in the sum. */
export interface UnmaskRequest {
  survivors: string[];
}

export interface RevealedShare {
  /** The site whose secret this is a share of. */
  of: string;
  y: Buffer;
}

/** Site to aggregator (unmask stage): shares of survivors' self-mask seeds and of dropped sites' mask keys. */
export interface UnmaskResponse {
  selfMaskShares: RevealedShare[];
  maskKeyShares: RevealedShare[];
}

/** A list of distinct site names, at most MAX_SITES of them. */
export function checkSiteList(what: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_SITES) throw new SecAggRefusal(`${what} must be a list of at most ${MAX_SITES} sites`);
  const names = value.map(checkSiteName);
  if (new Set(names).size !== names.length) throw new SecAggRefusal(`${what} names a site twice`);
  return names;
}

/** Envelopes, one per peer, each exactly ENVELOPE_BYTES long. */
export function checkEnvelopes(what: string, value: unknown): Map<string, Buffer> {
  if (!Array.isArray(value) || value.length > MAX_SITES) throw new SecAggRefusal(`${what} must be a list of at most ${MAX_SITES} envelopes`);
  const out = new Map<string, Buffer>();
  for (const item of value as Envelope[]) {
    const peer = checkSiteName(item?.peer);
    if (out.has(peer)) throw new SecAggRefusal(`${what} has two envelopes for site ${peer}`);
    if (!Buffer.isBuffer(item.envelope) || item.envelope.length !== ENVELOPE_BYTES) {
      throw new SecAggRefusal(`${what}: the envelope for site ${peer} must be ${ENVELOPE_BYTES} bytes`);
    }
    out.set(peer, item.envelope);
  }
  return out;
}

/** Revealed shares, one per site, each a SHARE_BYTES y coordinate. */
export function checkRevealed(what: string, value: unknown): Map<string, Buffer> {
  if (!Array.isArray(value) || value.length > MAX_SITES) throw new SecAggRefusal(`${what} must be a list of at most ${MAX_SITES} shares`);
  const out = new Map<string, Buffer>();
  for (const item of value as RevealedShare[]) {
    const of = checkSiteName(item?.of);
    if (out.has(of)) throw new SecAggRefusal(`${what} has two shares of site ${of}`);
    if (!Buffer.isBuffer(item.y) || item.y.length !== SHARE_BYTES) throw new SecAggRefusal(`${what}: the share of site ${of} must be ${SHARE_BYTES} bytes`);
    out.set(of, item.y);
  }
  return out;
}
