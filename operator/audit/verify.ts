/**
 * Checks an audit trail line by line: each line is an entry, its hash is its own, its link is the
 * hash of the line before, and its seq is one more. The first break is named by line and by what
 * is wrong, so that a reader knows where to look: a changed line, a line removed or inserted, lines
 * swapped. Against an expected head (from the job's result), a trail cut at its end shows too.
 */
import { GENESIS, hashOf, type Entry } from './entry.js';

export interface TrailReport {
  ok: boolean;
  /** Entries read up to the first break (all of them when ok). */
  entries: number;
  /** The last good entry's hash. */
  head: string;
  /** Where and why the chain breaks. */
  broken?: { line: number; reason: string };
  /** Entries by actor and event, for a summary. */
  events: Record<string, number>;
}

export function verifyTrail(text: string, options: { expectHead?: string } = {}): TrailReport {
  const events: Record<string, number> = {};
  let prev = GENESIS;
  let seq = 0;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const fail = (line: number, reason: string): TrailReport => ({ ok: false, entries: seq, head: prev, broken: { line, reason }, events });
  for (const [index, line] of lines.entries()) {
    const n = index + 1;
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch {
      return fail(n, index === lines.length - 1 && !text.endsWith('\n') ? 'the last line is cut short' : 'the line is not JSON');
    }
    if (typeof entry !== 'object' || entry === null || typeof entry.hash !== 'string' || typeof entry.prev !== 'string' || typeof entry.seq !== 'number') {
      return fail(n, 'the line is not an audit entry (seq, prev and hash are missing)');
    }
    if (hashOf(entry) !== entry.hash) return fail(n, `entry ${entry.seq} was changed after it was written: its content does not match its hash`);
    if (entry.prev !== prev) {
      if (entry.seq > seq + 1) return fail(n, `${entry.seq - seq - 1} entr${entry.seq - seq - 1 === 1 ? 'y is' : 'ies are'} missing before entry ${entry.seq}`);
      if (entry.hash === prev) return fail(n, `entry ${entry.seq} appears twice`);
      if (entry.seq <= seq) return fail(n, `entry ${entry.seq} comes after entry ${seq}: lines were inserted or reordered`);
      return fail(n, `entry ${entry.seq} does not follow the entry before it (its link is not that entry's hash)`);
    }
    if (entry.seq !== seq + 1) return fail(n, `entry ${entry.seq} should be entry ${seq + 1}`);
    prev = entry.hash;
    seq = entry.seq;
    const key = `${entry.actor} ${entry.event}`;
    events[key] = (events[key] ?? 0) + 1;
  }
  if (options.expectHead !== undefined && options.expectHead !== prev) {
    return fail(lines.length + 1, `the trail ends at entry ${seq}, whose hash is not the expected head ${options.expectHead}: entries were removed from its end, or it is another trail`);
  }
  return { ok: true, entries: seq, head: prev, events };
}
