/**
 * AuditTrail: an append-only, hash-chained JSON-lines file (entry.ts). An append resolves once its
 * line is on disk (fdatasync), so whatever an entry records is written down before the caller acts
 * on it or announces it. Appends are serialized; a process that restarts on the same file continues
 * its chain. A line a crash left half-written was never acknowledged to anyone: it is cut off on
 * open, and the trail says so in its next entry.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GENESIS, sealed, type Entry, type EntryFields } from './entry.js';

/** Longest string an entry keeps of any field; what peers send is bounded before it gets here too. */
const MAX_TEXT = 1024;
const MAX_LIST = 64;
/** How much of the file's end is read to find the last entry on open. */
const TAIL_BYTES = 64 * 1024;
const RESERVED = new Set(['seq', 'time', 'actor', 'event', 'prev', 'hash']);

export interface TrailHead {
  /** Entries in the trail. */
  entries: number;
  /** The hash of the last entry (GENESIS for an empty trail). */
  head: string;
}

export class AuditTrail {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
    private readonly actor: string,
    private seq: number,
    private prev: string,
    private readonly now: () => Date,
  ) {}

  /** Opens (or creates) the trail at `path`, continuing its chain. */
  static async open(path: string, actor: string, options: { now?: () => Date } = {}): Promise<AuditTrail> {
    await mkdir(dirname(path), { recursive: true });
    const file = await open(path, 'a+', 0o640);
    try {
      const { last, partial } = await readTail(file);
      const trail = new AuditTrail(file, path, actor, last?.seq ?? 0, last?.hash ?? GENESIS, options.now ?? (() => new Date()));
      if (partial) {
        await file.truncate(partial.offset);
        await file.datasync();
        await trail.append('trail-recovered', { discardedBytes: partial.bytes, reason: 'a line a crash left half-written' });
      }
      return trail;
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** Where the chain stands once every append so far is on disk. */
  async head(): Promise<TrailHead> {
    await this.queue.catch(() => undefined);
    return { entries: this.seq, head: this.prev };
  }

  /** Writes one entry; resolves with it once it is on disk. */
  append(event: string, fields: EntryFields = {}): Promise<Entry> {
    const write = this.queue.catch(() => undefined).then(async () => {
      const entry = sealed({ seq: this.seq + 1, time: this.now().toISOString(), actor: this.actor, event }, bounded(fields), this.prev);
      const line = Buffer.from(`${JSON.stringify(entry)}\n`);
      const { size } = await this.file.stat();
      try {
        await this.file.write(line, 0, line.length, size);
        await this.file.datasync();
      } catch (err) {
        // Whatever part of the line reached the file is not an entry: the chain goes on from the last one.
        await this.file.truncate(size).catch(() => undefined);
        throw err;
      }
      this.seq = entry.seq;
      this.prev = entry.hash;
      return entry;
    });
    this.queue = write;
    return write;
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.file.close();
  }
}

function bounded(fields: EntryFields): EntryFields {
  const out: EntryFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (RESERVED.has(key)) throw new Error(`an audit entry's field may not be named ${key}`);
    if (typeof value === 'number' && !Number.isFinite(value)) out[key] = String(value);
    else if (typeof value === 'string') out[key] = cut(value);
    else if (Array.isArray(value)) out[key] = value.slice(0, MAX_LIST).map(cut);
    else out[key] = value;
  }
  return out;
}

function cut(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)}… (${text.length} characters)`;
}

interface Tail {
  last: Entry | null;
  /** Bytes after the last newline: a line cut short. */
  partial: { offset: number; bytes: number } | null;
}

async function readTail(file: FileHandle): Promise<Tail> {
  const { size } = await file.stat();
  if (size === 0) return { last: null, partial: null };
  const start = Math.max(0, size - TAIL_BYTES);
  const buffer = Buffer.alloc(size - start);
  await file.read(buffer, 0, buffer.length, start);
  const text = buffer.toString('utf8');
  const end = text.lastIndexOf('\n');
  const partial = end === text.length - 1 ? null : { offset: start + end + 1, bytes: size - (start + end + 1) };
  const lines = text.slice(0, end + 1).split('\n').filter((l) => l.length > 0);
  const lastLine = lines.at(-1);
  if (lastLine === undefined) {
    if (start > 0) throw new Error(`the audit trail's last ${TAIL_BYTES} bytes hold no complete line`);
    return { last: null, partial };
  }
  let last: Entry;
  try {
    last = JSON.parse(lastLine) as Entry;
  } catch {
    throw new Error('the audit trail ends in a line that is not JSON: run `flotilla audit verify` on it');
  }
  if (typeof last.seq !== 'number' || typeof last.hash !== 'string') throw new Error('the audit trail ends in a line that is not an entry');
  return { last, partial };
}
