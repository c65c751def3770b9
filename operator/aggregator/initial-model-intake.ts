import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { elementCount, type Model, type TensorSpec } from '../federation/model.js';
import type { TensorChunk__Output } from '../federation/proto.js';
import { ChunkValidator } from '../federation/tensor-stream.js';
import { firstEvent } from '../process/first-event.js';
import { checked, type Intake } from './intake.js';
import { Refusal } from './refusal.js';

/** An initial model a site sent whole, waiting on the state volume for other sites to agree. */
export interface Candidate {
  digest: string;
  specs: readonly TensorSpec[];
  file: string;
  /** Resolves once the file is complete. */
  written: Promise<void>;
}

/**
 * An initial model arriving: checked chunk by chunk and spooled to a file on the state volume, so
 * that it is never held in memory (several sites send one, and only the one a quorum agrees on is
 * loaded), with a SHA-256 over its tensor names, shapes and bytes: sites agree when digests match.
 */
export class InitialModelIntake implements Intake {
  private readonly validator: ChunkValidator;
  private readonly out: WriteStream;
  private readonly hash = createHash('sha256');
  private written: Promise<void> | null = null;
  private revoked = false;
  private committed = false;
  digest: string | undefined;

  constructor(
    private readonly specs: readonly TensorSpec[],
    private readonly file: string,
    private readonly onCommit: (candidate: Candidate) => void,
  ) {
    this.validator = new ChunkValidator(specs);
    this.hash.update(JSON.stringify(specs.map((s) => [s.name, s.shape])));
    this.out = createWriteStream(file, { flags: 'w', highWaterMark: 4 << 20 });
    // Errors surface in drained() and in loading; an unhandled 'error' event would crash the process.
    this.out.on('error', () => {});
  }

  take(chunk: TensorChunk__Output): void {
    if (this.revoked) throw new Refusal('stale_round', 'the phase closed while this update arrived');
    checked(() => this.validator.accept(chunk));
    this.hash.update(chunk.data);
    // The received message's own bytes, not a copy: nothing reuses them.
    this.out.write(chunk.data);
  }

  async drained(): Promise<void> {
    if (this.out.writableNeedDrain) await firstEvent(this.out, ['drain', 'close', 'error']);
    if (this.out.errored) throw this.out.errored;
  }

  finish(): void {
    if (this.revoked) throw new Refusal('stale_round', 'the phase closed while this update arrived');
    checked(() => this.validator.finish());
    this.digest = this.hash.digest('hex');
    this.out.end();
    this.written = finished(this.out);
    this.written.catch(() => {});
  }

  commit(): void {
    this.committed = true;
    this.onCommit({ digest: this.digest!, specs: this.specs, file: this.file, written: this.written! });
  }

  async cleanup(): Promise<void> {}

  async undo(): Promise<void> {
    if (this.committed) return;
    this.out.destroy();
    await rm(this.file, { force: true });
  }

  revoke(): Promise<void> {
    this.revoked = true;
    return this.undo();
  }
}

/** Reads a candidate's file back into a model, tensor by tensor. */
export async function loadCandidate(candidate: Candidate): Promise<Model> {
  await candidate.written;
  const file = await open(candidate.file, 'r');
  try {
    let position = 0;
    const model: Model = [];
    for (const spec of candidate.specs) {
      const data = new Float32Array(elementCount(spec.shape));
      const bytes = Buffer.from(data.buffer);
      for (let at = 0; at < bytes.length; ) {
        const { bytesRead } = await file.read(bytes, at, Math.min(bytes.length - at, 64 << 20), position + at);
        if (bytesRead === 0) throw new Error(`${candidate.file} ended early`);
        at += bytesRead;
      }
      position += bytes.length;
      model.push({ name: spec.name, shape: [...spec.shape], data });
    }
    return model;
  } finally {
    await file.close();
  }
}
