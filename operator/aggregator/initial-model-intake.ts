import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { elementCount, tensorBytes, type Model, type TensorSpec } from '../federation/model.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { TensorChunk__Output } from '../federation/proto.js';
import { ChunkValidator } from '../federation/tensor-stream.js';
import { firstEvent } from '../process/first-event.js';
import { checked, sizeOf, specsOfHeader, type Intake } from './intake.js';
import { Refusal } from './refusal.js';

/** Bounds an initial model (spooled to disk, not memory) when the job sets no aggregator.maxUpdateBytes. */
export const MAX_INITIAL_MODEL_BYTES = 4 * 2 ** 30;

/** The tensors of an initial model's header, refused unless they make a model of at most maxBytes. */
export function initialModelSpecs(header: UpdateHeader__Output, maxBytes: number): TensorSpec[] {
  const specs = specsOfHeader(header.model);
  const bytes = specs.reduce((n, s) => n + tensorBytes(s), 0);
  const f64 = specs.find((s) => s.dtype !== 'F32');
  if (specs.length === 0) throw new Refusal('wrong_shape', 'the initial model has no tensors');
  if (f64) throw new Refusal('wrong_shape', `the initial model's tensor ${f64.name} is ${f64.dtype}: models are F32`);
  if (bytes > maxBytes) throw new Refusal('too_large', `the initial model holds ${sizeOf(bytes)}, more than the ${sizeOf(maxBytes)} allowed`);
  return specs;
}

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

/**
 * The initial models the sites sent in the phase in flight: one file per distinct model (a second
 * site's identical bytes are not kept twice), and which site sent which.
 */
export class Candidates {
  private readonly byDigest = new Map<string, Candidate>();
  private readonly ofSite = new Map<string, string>();

  add(site: string, candidate: Candidate): void {
    this.ofSite.set(site, candidate.digest);
    if (this.byDigest.has(candidate.digest)) void candidate.written.finally(() => rm(candidate.file, { force: true }));
    else this.byDigest.set(candidate.digest, candidate);
  }

  /** The model `site` sent, read back; every candidate is forgotten. */
  async adopt(site: string): Promise<Model> {
    const model = await loadCandidate(this.byDigest.get(this.ofSite.get(site)!)!);
    await this.forget();
    return model;
  }

  /** Deletes every candidate's file. */
  async forget(): Promise<void> {
    const files = [...this.byDigest.values()];
    this.byDigest.clear();
    this.ofSite.clear();
    await Promise.all(files.map((c) => c.written.catch(() => {}).then(() => rm(c.file, { force: true }))));
  }
}

/** Reads a candidate's file back into a model, tensor by tensor. */
async function loadCandidate(candidate: Candidate): Promise<Model> {
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
