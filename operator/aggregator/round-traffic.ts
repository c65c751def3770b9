import { ChunkDecoder } from '../federation/chunk-decoder.js';
import { encodedChunks, type JobCompression } from '../federation/compression.js';
import { modelBytes, specOf, type Model } from '../federation/model.js';

/** What a round sent and received, in bytes of chunk data on the wire, and what that cost the model. */
export interface RoundTrafficRecord {
  /** Chunk data of the global model sent to the sites this round (every download, whole or not). */
  downloadBytes: number;
  /** Chunk data of the training updates received this round (accepted or not). */
  uploadBytes: number;
  /** Downloads sent whole, and training updates accepted. */
  downloads: number;
  uploads: number;
  /** One model's bytes as float32: what each download and update would be unencoded. */
  modelBytes: number;
  /** (downloads + uploads) · modelBytes / (downloadBytes + uploadBytes); 1 without compression. */
  factor: number | null;
  /** ‖decode(encode(w)) − w‖ / ‖w‖ of the round's global model under the download encoding; 0 unencoded. */
  downloadError: number;
}

/** Tallies a round's traffic as it goes; cleared when a round closes or is retried. */
export class RoundTraffic {
  private downloadBytes = 0;
  private uploadBytes = 0;
  private downloads = 0;

  sent(bytes: number): void {
    this.downloadBytes += bytes;
  }

  received(bytes: number): void {
    this.uploadBytes += bytes;
  }

  downloaded(): void {
    this.downloads++;
  }

  clear(): void {
    this.downloadBytes = 0;
    this.uploadBytes = 0;
    this.downloads = 0;
  }

  record(global: Model, uploads: number, compression: JobCompression): RoundTrafficRecord {
    const bytes = modelBytes(global);
    const wire = this.downloadBytes + this.uploadBytes;
    return {
      downloadBytes: this.downloadBytes,
      uploadBytes: this.uploadBytes,
      downloads: this.downloads,
      uploads,
      modelBytes: bytes,
      factor: wire > 0 ? ((this.downloads + uploads) * bytes) / wire : null,
      downloadError: encodingError(global, compression),
    };
  }
}

/** The relative L2 error the download encoding makes of a model. */
export function encodingError(model: Model, compression: JobCompression): number {
  if (compression.download === 'ENCODING_NONE') return 0;
  const decoder = new ChunkDecoder(specOf(model), compression.download, 0);
  let error = 0;
  let norm = 0;
  for (const chunk of encodedChunks(model.map((t) => t.data), compression.download)) {
    const back = new Float32Array(decoder.decode(chunk).data.buffer);
    const original = model[chunk.tensor]!.data.subarray(chunk.offset / 4, chunk.offset / 4 + back.length);
    for (let i = 0; i < back.length; i++) {
      error += (back[i]! - original[i]!) ** 2;
      norm += original[i]! ** 2;
    }
  }
  return norm > 0 ? Math.sqrt(error / norm) : 0;
}

/** A job's traffic over its closed rounds, and the last round's download error. */
export interface JobTraffic {
  downloadBytes: number;
  uploadBytes: number;
  /** How many times fewer bytes than unencoded float32 models; null before any traffic. */
  factor: number | null;
  downloadError: number;
}

export function jobTraffic(rounds: readonly { traffic?: RoundTrafficRecord }[]): JobTraffic {
  let downloadBytes = 0;
  let uploadBytes = 0;
  let dense = 0;
  let downloadError = 0;
  for (const { traffic: t } of rounds) {
    if (!t) continue;
    downloadBytes += t.downloadBytes;
    uploadBytes += t.uploadBytes;
    dense += (t.downloads + t.uploads) * t.modelBytes;
    downloadError = t.downloadError;
  }
  const wire = downloadBytes + uploadBytes;
  return { downloadBytes, uploadBytes, factor: wire > 0 ? dense / wire : null, downloadError };
}
