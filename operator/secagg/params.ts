/**
 * The public parameters of one secure-aggregation round, fixed by the aggregator before it starts
 * and checked by every site. Every number a peer could send is bounded here.
 */
import { SecAggRefusal } from './errors.js';

/** More sites than this in one round is refused: shares carry 16-bit x coordinates. */
export const MAX_SITES = 1000;
/** The longest vector (in coordinates) a round masks: 2^28 words, 1 GiB. */
export const MAX_LENGTH = 1 << 28;

export interface RoundContext {
  namespace: string;
  job: string;
  round: number;
  /** 16 random bytes chosen by the aggregator for this round: keys derived in a round are bound to it. */
  nonce: Buffer;
}

export interface RoundParams {
  context: RoundContext;
  /** How many neighbours each site masks with and shares its secrets among (even, or n - 1: complete). */
  neighbours: number;
  /** Shares needed to recover a secret; also the fewest sites whose sum may be revealed. */
  threshold: number;
  /** Coordinates of the vector each site contributes. */
  length: number;
  /** Each coordinate is clipped to [-clip, clip] before quantization. */
  clip: number;
  /** The most sites whose sum a round may add up: quantization leaves room for this many without wrapping. */
  maxSites: number;
}

function integer(what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SecAggRefusal(`${what} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Throws SecAggRefusal unless `name` is a site name (a DNS-1123 label). */
export function checkSiteName(name: unknown): string {
  if (typeof name !== 'string' || name.length > 63 || !LABEL.test(name)) {
    throw new SecAggRefusal(`site name ${JSON.stringify(name)?.slice(0, 80)} is not a DNS-1123 label`);
  }
  return name;
}

/**
 * Throws SecAggRefusal unless the parameters can work: t of k shares recover a secret, and t is a
 * majority of k, so that no set of sites the server talks to in the unmask stage can hand it both
 * halves (self-mask seed and mask key) of one site's secrets.
 */
export function checkParams(params: RoundParams, sites?: number): void {
  const { context } = params;
  checkSiteName(context.namespace);
  checkSiteName(context.job);
  integer('round', context.round, 0, Number.MAX_SAFE_INTEGER);
  if (!Buffer.isBuffer(context.nonce) || context.nonce.length !== 16) throw new SecAggRefusal('the round nonce must be 16 bytes');
  integer('maxSites', params.maxSites, 3, MAX_SITES);
  integer('neighbours', params.neighbours, 2, params.maxSites - 1);
  integer('threshold', params.threshold, Math.floor(params.neighbours / 2) + 1, params.neighbours);
  integer('length', params.length, 1, MAX_LENGTH);
  if (typeof params.clip !== 'number' || !Number.isFinite(params.clip) || params.clip <= 0) {
    throw new SecAggRefusal(`clip must be a positive number, got ${String(params.clip)}`);
  }
  if (sites !== undefined) checkGraph(params, sites);
}

/** Throws SecAggRefusal unless a round of `sites` sites can be drawn with these neighbours. */
export function checkGraph(params: RoundParams, sites: number): void {
  integer('sites', sites, params.threshold + 1, params.maxSites);
  if (params.neighbours < sites - 1 && params.neighbours % 2 !== 0) {
    throw new SecAggRefusal(`with ${sites} sites, neighbours must be even (a Harary graph) or at least ${sites - 1} (every other site), got ${params.neighbours}`);
  }
}

/** The bytes that bind a derived key or a signature to this round. */
export function contextBytes(context: RoundContext): Buffer {
  return Buffer.concat([Buffer.from(`flotilla secagg v1\0${context.namespace}\0${context.job}\0${context.round}\0`), context.nonce]);
}
