/**
 * One line of an audit trail. Each entry names the hash of the one before it, and its own hash covers
 * everything in it, that link included: editing, deleting, inserting or reordering a line breaks the
 * chain at that line. Dropping lines from the end is caught only against a head kept elsewhere (the
 * job's result names the head its trail had when the job ended).
 */
import { createHash } from 'node:crypto';

/** The link of a trail's first entry. */
export const GENESIS = '0'.repeat(64);

/** The fields every entry has; `event` says what happened and the rest says what to. */
export interface EntryHead {
  /** 1 for the first entry, then one more for each. */
  seq: number;
  /** RFC 3339, when it was written. */
  time: string;
  /** Who wrote it: `aggregator`, `client/<site>`, ... */
  actor: string;
  event: string;
}

export type EntryFields = Record<string, string | number | boolean | null | string[]>;

export type Entry = EntryHead & EntryFields & { prev: string; hash: string };

/** The hash of an entry: SHA-256 over its JSON without the hash field, keys in the order written. */
export function hashOf(entry: Omit<Entry, 'hash'> | Record<string, unknown>): string {
  const rest: Record<string, unknown> = { ...entry };
  delete rest.hash;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

/** The line for an entry: its fields in order, then prev and hash. */
export function sealed(head: EntryHead, fields: EntryFields, prev: string): Entry {
  const body = { ...head, ...fields, prev };
  return { ...body, hash: hashOf(body) } as Entry;
}
