import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Model } from '../federation/model.js';
import { clipFactor, squaredDistance, type RobustRule } from './robust-rules.js';

/** An accepted update of the round, spilled whole to the state volume: its F32 values, tensor after tensor. */
export interface Spill {
  site: string;
  path: string;
  /** ‖w_site − w_global‖, summed as it arrived. */
  norm: number;
}

/** What a block of n updates may take in memory: n rows of float64 (and one float32 read buffer). */
const BLOCK_BYTES = 16 << 20;

/**
 * A robust round's accepted updates, spilled to files as they arrived, and the rule that combines
 * them. Order statistics need every update of a round at once; rather than hold n models, the
 * aggregate is made coordinate block by coordinate block: memory is the result (8 bytes per
 * parameter, as the running sum) plus a block × n, whatever n and the model's size. Krum's pairwise
 * distances are summed the same way, block by block, before its pass. The updates are taken in site
 * order, so the result does not depend on the order they arrived in.
 */
export class SpilledRound {
  private readonly spills = new Map<string, Spill>();

  constructor(
    readonly rule: RobustRule,
    readonly normBound: number | undefined,
    private readonly blockBytes = BLOCK_BYTES,
  ) {}

  get count(): number {
    return this.spills.size;
  }

  add(spill: Spill): void {
    this.spills.set(spill.site, spill);
  }

  /** The rule's delta per tensor, from the spilled updates and the global model they were trained from. */
  async aggregate(global: Model): Promise<Float64Array[]> {
    const spills = [...this.spills.values()].sort((a, b) => (a.site < b.site ? -1 : a.site > b.site ? 1 : 0));
    const n = spills.length;
    if (n === 0) throw new Error('a robust round closed with no update');
    const scales = spills.map((s) => clipFactor(s.norm, this.normBound));
    const length = Math.max(1, Math.floor(this.blockBytes / (n * Float64Array.BYTES_PER_ELEMENT)));
    const rows = spills.map(() => new Float64Array(length));
    const raw = new Float32Array(length);
    const files: FileHandle[] = [];
    try {
      for (const s of spills) files.push(await open(s.path, 'r'));
      /** Each block of the model: tensor, first element, count, and its element offset in a spill. */
      const blocks = function* () {
        let position = 0;
        for (let k = 0; k < global.length; k++) {
          const size = global[k]!.data.length;
          for (let start = 0; start < size; start += length) yield { k, start, count: Math.min(length, size - start), at: position + start };
          position += size;
        }
      };
      /** rows[slot] = the clipped delta of update `which[slot]` over one block. */
      const read = async (which: readonly number[], block: { k: number; start: number; count: number; at: number }) => {
        const g = global[block.k]!.data;
        const bytes = block.count * Float32Array.BYTES_PER_ELEMENT;
        const into = Buffer.from(raw.buffer, 0, bytes);
        for (let slot = 0; slot < which.length; slot++) {
          const i = which[slot]!;
          const { bytesRead } = await files[i]!.read(into, 0, bytes, block.at * Float32Array.BYTES_PER_ELEMENT);
          if (bytesRead < bytes) throw new Error(`the spilled update of ${spills[i]!.site} (${spills[i]!.path}) is truncated`);
          const row = rows[slot]!;
          const scale = scales[i]!;
          for (let j = 0; j < block.count; j++) row[j] = (raw[j]! - g[block.start + j]!) * scale;
        }
      };
      let distances: Float64Array | null = null;
      const everyone = spills.map((_, i) => i);
      if (this.rule.usesDistances) {
        distances = new Float64Array(n * n);
        for (const block of blocks()) {
          await read(everyone, block);
          for (let a = 0; a < n; a++) {
            for (let b = a + 1; b < n; b++) {
              const d = squaredDistance(rows[a]!, rows[b]!, block.count);
              distances[a * n + b]! += d;
              distances[b * n + a]! += d;
            }
          }
        }
      }
      const picked = this.rule.pick(n, distances);
      const out = global.map((t) => new Float64Array(t.data.length));
      const pickedRows = rows.slice(0, picked.length);
      for (const block of blocks()) {
        await read(picked, block);
        this.rule.combine(pickedRows, block.count, out[block.k]!, block.start);
      }
      return out;
    } finally {
      await Promise.all(files.map((f) => f.close()));
    }
  }

  /** Forgets the round's updates, files and all. */
  async reset(): Promise<void> {
    const paths = [...this.spills.values()].map((s) => s.path);
    this.spills.clear();
    await Promise.all(paths.map((p) => rm(p, { force: true })));
  }
}
