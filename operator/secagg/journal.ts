/**
 * What one site's masked update has put into the running sum so far, kept on disk until the update
 * is complete, so that an update cut off half-way can be taken out again (its words are masked:
 * uniform noise to whoever reads the file). Memory stays one chunk; the file is removed at the end.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export class FoldJournal {
  private readonly dir: string;
  private readonly fd: number;
  private bytes = 0;

  constructor(parent = tmpdir()) {
    this.dir = mkdtempSync(path.join(parent, 'secagg-'));
    this.fd = openSync(path.join(this.dir, 'folded'), 'w+');
  }

  append(words: Uint32Array): void {
    writeSync(this.fd, words, 0, words.byteLength, this.bytes);
    this.bytes += words.byteLength;
  }

  /** Calls `each` with the words appended, in order, at their offset (in words), `chunkWords` at a time. */
  replay(each: (words: Uint32Array, at: number) => void, chunkWords = 1 << 16): void {
    const buffer = new Uint32Array(chunkWords);
    for (let offset = 0; offset < this.bytes; offset += buffer.byteLength) {
      const read = readSync(this.fd, buffer, 0, Math.min(buffer.byteLength, this.bytes - offset), offset);
      each(buffer.subarray(0, read / 4), offset / 4);
    }
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
