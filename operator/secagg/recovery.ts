/**
 * The aggregator's last step: from the secrets recovered in the unmask stage, take every mask that
 * does not cancel out of the running sum (each survivor's self mask; the pairwise masks survivors
 * added towards sites that dropped after sharing), mask by mask and chunk by chunk, in place.
 */
import { agree, publicKeyOf } from './key-agreement.js';
import { addInto, maskKey, MaskStream, subtractInto } from './mask.js';
import type { RoundParams } from './params.js';

export interface DroppedSite {
  site: string;
  /** Its mask private key, rebuilt from shares. */
  maskPrivateKey: Buffer;
  /** The survivors among its neighbours, with the mask public keys they advertised. */
  survivingNeighbours: { site: string; maskKey: Buffer }[];
}

/** Whether a rebuilt mask key is the one the site advertised (a wrong share would rebuild another). */
export function rebuiltKeyMatches(privateKey: Buffer, advertised: Buffer): boolean {
  return publicKeyOf(privateKey).equals(advertised);
}

export function removeMasks(sum: Uint32Array, params: RoundParams, selfSeeds: Buffer[], dropped: DroppedSite[], chunkWords = 1 << 16): void {
  const run = (stream: MaskStream, apply: typeof addInto) => {
    for (let at = 0; at < sum.length; at += chunkWords) apply(sum, stream.next(Math.min(chunkWords, sum.length - at)), at);
  };
  for (const seed of selfSeeds) run(new MaskStream(maskKey(seed, params.context, 'self mask')), subtractInto);
  for (const gone of dropped) {
    for (const survivor of gone.survivingNeighbours) {
      const stream = new MaskStream(maskKey(agree(gone.maskPrivateKey, survivor.maskKey), params.context, 'pairwise mask'));
      // The survivor added this mask if it comes first in name order, and subtracted it if not.
      run(stream, survivor.site < gone.site ? subtractInto : addInto);
    }
  }
}
