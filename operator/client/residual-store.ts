import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { sameSpec, specOf, type Model } from '../federation/model.js';
import { readSafetensors, writeSafetensors } from '../federation/safetensors.js';

/**
 * Top-k's error feedback at the site: what earlier rounds did not send. It is written (atomically:
 * safetensors.ts goes through atomic-file.ts) once the aggregator accepted the update it belongs to,
 * so a client restarted at any moment resumes with the residual of its last accepted update.
 */
export class ResidualStore {
  private residual: Model | null = null;
  private loaded = false;

  /** file: where the residual lives across restarts; in memory only without one. */
  constructor(private readonly file: string | undefined) {}

  /** The residual for a model of these tensors; null when there is none yet (or it was for another model). */
  async load(model: Model): Promise<Model | null> {
    if (!this.loaded && this.file && (await exists(this.file))) this.residual = (await readSafetensors(this.file)).model;
    this.loaded = true;
    return this.residual && sameSpec(specOf(this.residual), specOf(model)) ? this.residual : null;
  }

  async save(residual: Model, round: number): Promise<void> {
    if (this.file) {
      await mkdir(path.dirname(this.file), { recursive: true });
      await writeSafetensors(this.file, residual, { round: String(round) });
    }
    this.residual = residual;
    this.loaded = true;
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
