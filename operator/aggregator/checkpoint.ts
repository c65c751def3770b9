import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../process/atomic-file.js';
import type { Model, Tensor } from '../federation/model.js';
import { readSafetensors, writeSafetensors } from '../federation/safetensors.js';
import type { FinalEvaluation, RoundRecord } from './result.js';
import type { Position } from './round-state.js';
import type { BufferState } from './update-buffer.js';

/** Everything a restarted aggregator needs to carry on where the last closed phase left off. */
export interface Checkpoint {
  /** Where to resume: the phase after the last one that closed. */
  position: Position;
  /** How the job ended, once position is DONE. */
  outcome: { succeeded: boolean; message: string } | null;
  statistics: number[] | null;
  history: RoundRecord[];
  finalEvaluation: FinalEvaluation | null;
  /** Each site's training records, as its statistics vector declared them. */
  siteRecords?: Record<string, number>;
  model: Model | null;
  /** The server optimiser's state (FedAdam, FedYogi, FedAdagrad). */
  optimizer: Tensor[];
  /** Asynchronous aggregation: the buffer of accepted updates not yet applied, and the versions they may be trained on. */
  buffer?: BufferState;
}

/** state.json's part of the buffer; its sums and versions are in files of their own. */
interface BufferFile extends Omit<BufferState, 'sums' | 'versions' | 'next'> {
  next?: Omit<NonNullable<BufferState['next']>, 'sums'>;
  sumsFile: string;
  versionsFile: string;
  versionNumbers: number[];
}

interface StateFile extends Omit<Checkpoint, 'model' | 'optimizer' | 'buffer'> {
  formatVersion: 1;
  job: string;
  sequence: number;
  modelFile: string | null;
  optimizerFile: string | null;
  buffer?: BufferFile;
  savedAt: string;
}

const STATE_FILE = 'state.json';

/**
 * The checkpoint folder. Tensors go to files named by a sequence number, then state.json, written
 * atomically, names them: that rename is the commit point, so a crash at any moment leaves the old
 * checkpoint or the new one, never a mix. Files of older checkpoints are removed afterwards.
 */
export class CheckpointStore {
  private sequence = 0;

  constructor(
    readonly dir: string,
    /** namespace/name: a state dir never resumes another job. */
    private readonly job: string,
  ) {}

  async load(): Promise<Checkpoint | null> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, STATE_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const state = JSON.parse(text) as StateFile;
    if (state.formatVersion !== 1) throw new Error(`${this.dir}: checkpoint format ${state.formatVersion} is not one this aggregator reads`);
    if (state.job !== this.job) throw new Error(`${this.dir} holds a checkpoint of job ${state.job}, not ${this.job}: use a fresh state dir`);
    this.sequence = state.sequence;
    const tensors = async (file: string | null) => (file ? (await readSafetensors(path.join(this.dir, file))).model : null);
    return {
      position: state.position,
      outcome: state.outcome,
      statistics: state.statistics,
      history: state.history,
      finalEvaluation: state.finalEvaluation,
      siteRecords: state.siteRecords,
      model: await tensors(state.modelFile),
      optimizer: (await tensors(state.optimizerFile)) ?? [],
      ...(state.buffer ? { buffer: await this.loadBuffer(state.buffer, state.modelFile) } : {}),
    };
  }

  private async loadBuffer(file: BufferFile, modelFile: string | null): Promise<BufferState> {
    const { sumsFile, versionsFile, versionNumbers, next, ...rest } = file;
    const model = modelFile ? (await readSafetensors(path.join(this.dir, modelFile))).model : [];
    const raw = await readFile(path.join(this.dir, sumsFile));
    const flat = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    let at = 0;
    const sums = () => model.map((t) => flat.slice(at, (at += t.data.length)));
    const all = (await readSafetensors(path.join(this.dir, versionsFile))).model;
    const versions = versionNumbers.map((version, i) => ({
      version,
      model: all.slice(i * model.length, (i + 1) * model.length).map((t, k) => ({ ...t, name: model[k]!.name })),
    }));
    return { ...rest, sums: sums(), ...(next ? { next: { ...next, sums: sums() } } : {}), versions };
  }

  /** The sums as raw float64 (exact integers; safetensors here is float32), the versions as one safetensors file. */
  private async saveBuffer(buffer: BufferState, label: string, metadata: Record<string, string>): Promise<BufferFile> {
    const { sums, versions, next, ...rest } = buffer;
    const sumsFile = `buffer-sums-${label}.f64`;
    const versionsFile = `buffer-versions-${label}.safetensors`;
    // The next buffer's sums, when there is one, follow the full buffer's.
    const bytes = Buffer.concat([...sums, ...(next?.sums ?? [])].map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength)));
    await writeFileAtomic(path.join(this.dir, sumsFile), (file) => writeFile(file, bytes));
    const tensors = versions.flatMap(({ version, model }) => model.map((t) => ({ ...t, name: `v${version}/${t.name}` })));
    await writeSafetensors(path.join(this.dir, versionsFile), tensors, metadata);
    const nextFile = next ? { next: { updates: next.updates, totalWeight: next.totalWeight } } : {};
    return { ...rest, ...nextFile, sumsFile, versionsFile, versionNumbers: versions.map((v) => v.version) };
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const sequence = ++this.sequence;
    const label = String(sequence).padStart(6, '0');
    const modelFile = checkpoint.model ? `model-${label}.safetensors` : null;
    const optimizerFile = checkpoint.optimizer.length > 0 ? `optimizer-${label}.safetensors` : null;
    const metadata = { job: this.job, phase: checkpoint.position.phase, round: String(checkpoint.position.round) };
    if (checkpoint.model && modelFile) await writeSafetensors(path.join(this.dir, modelFile), checkpoint.model, metadata);
    if (optimizerFile) await writeSafetensors(path.join(this.dir, optimizerFile), checkpoint.optimizer, metadata);
    const buffer = checkpoint.buffer ? await this.saveBuffer(checkpoint.buffer, label, metadata) : undefined;
    const { position, outcome, statistics, history, finalEvaluation, siteRecords } = checkpoint;
    const state: StateFile = {
      formatVersion: 1,
      job: this.job,
      sequence,
      position,
      outcome,
      statistics,
      history,
      finalEvaluation,
      siteRecords,
      modelFile,
      optimizerFile,
      ...(buffer ? { buffer } : {}),
      savedAt: new Date().toISOString(),
    };
    await writeFileAtomic(path.join(this.dir, STATE_FILE), (file) => writeFile(file, JSON.stringify(state) + '\n'));
    const keep = new Set([STATE_FILE, modelFile, optimizerFile, buffer?.sumsFile, buffer?.versionsFile]);
    for (const name of await readdir(this.dir)) {
      if (!keep.has(name) && !name.startsWith('.')) await rm(path.join(this.dir, name), { force: true });
    }
  }
}
