import { ChunkDecoder } from '../federation/chunk-decoder.js';
import type { WireChunk } from '../federation/chunk.js';
import { encodedChunks, type JobCompression } from '../federation/compression.js';
import { specOf, type Model } from '../federation/model.js';

export interface EncodedUpload {
  chunks: WireChunk[];
  /** TOP_K: what was not sent (error feedback), to add to the next round's delta; null otherwise. */
  residual: Model | null;
}

/**
 * What leaves the site of a trained model under an upload encoding: its delta on the model the site
 * received (plus, for TOP_K, the residual of earlier rounds), encoded. The residual is what the
 * aggregator will not decode: the delta minus what the site's own decoder makes of its chunks, so
 * nothing is kept back twice or lost. Under local DP `trained` is already clipped and noised, so
 * everything sent, and the residual, follows from the noised update alone.
 */
export function encodeUpload(trained: Model, received: Model, compression: JobCompression, residual: Model | null): EncodedUpload {
  const topK = compression.upload === 'TOP_K';
  const delta = trained.map((t, k) => {
    const d = new Float32Array(t.data.length);
    const r = topK ? residual?.[k]?.data : undefined;
    const g = received[k]!.data;
    for (let i = 0; i < d.length; i++) d[i] = t.data[i]! - g[i]! + (r ? r[i]! : 0);
    return d;
  });
  const chunks = [...encodedChunks(delta, compression.upload, compression.topKFraction)];
  if (!topK) return { chunks, residual: null };
  const decoder = new ChunkDecoder(specOf(trained), 'TOP_K', compression.topKFraction);
  for (const chunk of chunks) {
    const sent = new Float32Array(decoder.decode(chunk).data.buffer);
    const kept = delta[chunk.tensor]!.subarray(chunk.offset / 4, chunk.offset / 4 + sent.length);
    for (let i = 0; i < sent.length; i++) kept[i] = kept[i]! - sent[i]!;
  }
  return { chunks, residual: trained.map((t, k) => ({ name: t.name, shape: [...t.shape], data: delta[k]! })) };
}
