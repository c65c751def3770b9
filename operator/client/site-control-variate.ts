import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Model } from '../federation/model.js';
import { readSafetensors, writeSafetensors } from '../federation/safetensors.js';
import { removeStaleTemporaries } from '../process/atomic-file.js';

const FILE = /^round-(\d{6,})\.safetensors$/;
const fileOf = (round: number) => `round-${String(round).padStart(6, '0')}.safetensors`;

/**
 * A site's SCAFFOLD control variate c_i, kept in the client's work dir and never sent: one file per
 * round that made it, each written atomically. Training round r starts from the newest file of a
 * round before r, so a round run again (an aggregator restart, a retried attempt) starts from the
 * same c_i as the first time, and a client restart picks up where it was.
 */
export class SiteControlVariate {
  private constructor(private readonly dir: string) {}

  static async open(workDir: string): Promise<SiteControlVariate> {
    const dir = path.join(workDir, 'control-variates');
    await mkdir(dir, { recursive: true });
    await removeStaleTemporaries(dir);
    return new SiteControlVariate(dir);
  }

  /** c_i as it stood before round `round`; null before the site's first round (c_i⁰ = 0). */
  async before(round: number): Promise<Model | null> {
    const newest = (await this.rounds()).filter((r) => r < round).pop();
    return newest === undefined ? null : (await readSafetensors(path.join(this.dir, fileOf(newest)))).model;
  }

  /** Keeps c_i as round `round` made it; drops what no later round can start from. */
  async save(round: number, variate: Model): Promise<void> {
    await writeSafetensors(path.join(this.dir, fileOf(round)), variate, { round: String(round) });
    const older = (await this.rounds()).filter((r) => r < round);
    older.pop(); // the base of round `round`, should it run again
    await Promise.all(older.map((r) => rm(path.join(this.dir, fileOf(r)), { force: true })));
  }

  /** The rounds with a file, in order. */
  async rounds(): Promise<number[]> {
    const names = await readdir(this.dir);
    return names.flatMap((name) => (FILE.test(name) ? [Number(FILE.exec(name)![1])] : [])).sort((a, b) => a - b);
  }
}
