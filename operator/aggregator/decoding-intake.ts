import { ChunkDecoder } from '../federation/chunk-decoder.js';
import type { Model, TensorSpec } from '../federation/model.js';
import type { JobCompression } from '../federation/compression.js';
import type { TensorChunk__Output } from '../federation/proto.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { checked, type Intake } from './intake.js';
import { Refusal } from './refusal.js';

/** Refuses a TRAIN update that says it is encoded otherwise than the job's uploads, before anything is opened for it. */
export function checkUploadEncoding(header: UpdateHeader__Output, compression: JobCompression): void {
  if (header.encoding !== compression.upload) {
    throw new Refusal('bad_encoding', `the update is encoded ${header.encoding}; this job's uploads are ${compression.upload} (spec.compression.upload): run the job's client version`);
  }
}

/**
 * A TRAIN update under the job's upload compression: each chunk is decoded (and refused if it does
 * not decode) before the intake behind it sees it, as the dense model values base + delta. So the
 * fold, the undo journal, clipping and spilling are the same for every encoding, and a refused
 * chunk has changed nothing.
 */
export function decodingIntake(inner: Intake, specs: readonly TensorSpec[], compression: JobCompression, global: Model): Intake {
  if (compression.upload === 'ENCODING_NONE') return inner;
  const decoder = new ChunkDecoder(specs, compression.upload, compression.topKFraction, global);
  return {
    take(chunk: TensorChunk__Output): void {
      const decoded = checked(() => decoder.decode(chunk));
      inner.take({ tensor: decoded.tensor, offset: decoded.offset, data: Buffer.from(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength) });
    },
    drained: () => inner.drained(),
    finish: () => inner.finish(),
    commit: () => inner.commit(),
    cleanup: () => inner.cleanup(),
    undo: () => inner.undo(),
    revoke: (sumsDiscarded) => inner.revoke(sumsDiscarded),
  };
}
