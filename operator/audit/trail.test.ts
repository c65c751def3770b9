import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../api/crds.js';
import { GENESIS, hashOf } from './entry.js';
import { AuditTrail } from './trail.js';
import { verifyTrail } from './verify.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flotilla-audit-'));
  file = path.join(dir, 'audit.jsonl');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function trailOf(n: number): Promise<string[]> {
  const trail = await AuditTrail.open(file, 'aggregator');
  for (let i = 1; i <= n; i++) await trail.append('update-accepted', { site: `site-${i}`, round: i, bytes: 1000 * i, sha256: String(i).repeat(64).slice(0, 64) });
  await trail.close();
  return (await readFile(file, 'utf8')).trimEnd().split('\n');
}
const joined = (lines: string[]) => lines.join('\n') + '\n';

describe('an audit trail', () => {
  it('chains every entry to the one before, and verifies whole', async () => {
    const lines = await trailOf(5);
    const entries = lines.map((l) => JSON.parse(l));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0].prev).toBe(GENESIS);
    for (let i = 1; i < 5; i++) expect(entries[i].prev).toBe(entries[i - 1].hash);
    for (const e of entries) expect(hashOf(e)).toBe(e.hash);
    expect(verifyTrail(joined(lines))).toEqual({ ok: true, entries: 5, head: entries[4].hash, events: { 'aggregator update-accepted': 5 } });
  });

  it('continues its chain across a restart on the same file', async () => {
    await trailOf(2);
    const again = await AuditTrail.open(file, 'aggregator');
    const third = await again.append('resumed', { round: 2 });
    await again.close();
    expect(third.seq).toBe(3);
    expect(verifyTrail(await readFile(file, 'utf8'))).toMatchObject({ ok: true, entries: 3, head: third.hash });
  });

  it('serializes appends made at once, each on disk when it resolves', async () => {
    const trail = await AuditTrail.open(file, 'aggregator');
    const written = await Promise.all(Array.from({ length: 50 }, (_, i) => trail.append('update-refused', { n: i })));
    expect(written.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await trail.head()).toEqual({ entries: 50, head: written[49]!.hash });
    expect(verifyTrail(await readFile(file, 'utf8')).ok).toBe(true);
    await trail.close();
  });

  it('cuts off a line a crash left half-written, and says so in its next entry', async () => {
    const lines = await trailOf(3);
    await appendFile(file, lines[2]!.slice(0, 40)); // a crash in the middle of a fourth line
    expect(verifyTrail(await readFile(file, 'utf8')).broken).toEqual({ line: 4, reason: 'the last line is cut short' });
    const trail = await AuditTrail.open(file, 'aggregator');
    await trail.close();
    const after = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(after.slice(0, 3)).toEqual(lines);
    expect(JSON.parse(after[3]!)).toMatchObject({ seq: 4, event: 'trail-recovered', discardedBytes: 40, prev: JSON.parse(lines[2]!).hash });
    expect(verifyTrail(joined(after)).ok).toBe(true);
  });

  it('bounds what it keeps of a long string and refuses fields that would overwrite the chain', async () => {
    const trail = await AuditTrail.open(file, 'aggregator');
    const entry = await trail.append('update-refused', { reason: 'x'.repeat(100_000) });
    expect((entry.reason as string).length).toBeLessThan(1100);
    await expect(trail.append('forged', { prev: GENESIS })).rejects.toThrow('may not be named prev');
    await expect(trail.append('forged', { seq: 1 })).rejects.toThrow('may not be named seq');
    await trail.close();
    expect(verifyTrail(await readFile(file, 'utf8'))).toMatchObject({ ok: true, entries: 1 });
  });
});

describe('verifying a trail finds every kind of tampering, and where', () => {
  it('a changed field', async () => {
    const lines = await trailOf(5);
    lines[2] = lines[2]!.replace('"bytes":3000', '"bytes":3');
    expect(verifyTrail(joined(lines)).broken).toEqual({ line: 3, reason: 'entry 3 was changed after it was written: its content does not match its hash' });
  });

  it('a changed entry whose hash was recomputed', async () => {
    const lines = await trailOf(5);
    const forged = { ...JSON.parse(lines[2]!), site: 'someone-else' };
    forged.hash = hashOf(forged);
    lines[2] = JSON.stringify(forged);
    expect(verifyTrail(joined(lines))).toMatchObject({ ok: false, entries: 3, broken: { line: 4, reason: 'entry 4 does not follow the entry before it (its link is not that entry\'s hash)' } });
  });

  it('a deleted entry in the middle, and the first one', async () => {
    const lines = await trailOf(5);
    expect(verifyTrail(joined([...lines.slice(0, 2), ...lines.slice(3)])).broken).toEqual({ line: 3, reason: '1 entry is missing before entry 4' });
    expect(verifyTrail(joined(lines.slice(1))).broken).toEqual({ line: 1, reason: '1 entry is missing before entry 2' });
  });

  it('two entries swapped', async () => {
    const lines = await trailOf(5);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    expect(verifyTrail(joined(lines)).broken).toEqual({ line: 2, reason: '1 entry is missing before entry 3' });
    const swappedBack = verifyTrail(joined([lines[0]!, lines[2]!, lines[2]!]));
    expect(swappedBack.broken).toEqual({ line: 3, reason: 'entry 2 appears twice' });
  });

  it('an entry inserted with a chain of its own', async () => {
    const lines = await trailOf(3);
    const before = JSON.parse(lines[1]!);
    const inserted = { seq: 3, time: before.time, actor: 'aggregator', event: 'update-accepted', site: 'ghost', prev: before.hash } as Record<string, unknown>;
    inserted.hash = hashOf(inserted);
    expect(verifyTrail(joined([lines[0]!, lines[1]!, JSON.stringify(inserted), lines[2]!])).broken).toEqual({
      line: 4,
      reason: 'entry 3 comes after entry 3: lines were inserted or reordered',
    });
  });

  it('entries removed from its end, against the head the job recorded', async () => {
    const lines = await trailOf(5);
    const head = JSON.parse(lines[4]!).hash as string;
    expect(verifyTrail(joined(lines), { expectHead: head }).ok).toBe(true);
    const cut = verifyTrail(joined(lines.slice(0, 3)), { expectHead: head });
    expect(cut.ok).toBe(false);
    expect(cut.broken!.reason).toContain('the trail ends at entry 3, whose hash is not the expected head');
  });

  it('a line that is not an entry', async () => {
    const lines = await trailOf(2);
    expect(verifyTrail(joined([lines[0]!, '{"hello":1}', lines[1]!])).broken).toEqual({ line: 2, reason: 'the line is not an audit entry (seq, prev and hash are missing)' });
    expect(verifyTrail(joined([lines[0]!, 'not json', lines[1]!])).broken).toEqual({ line: 2, reason: 'the line is not JSON' });
  });
});

describe('flotilla audit verify', () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, [path.join(packageRoot, 'dist/operator/cli/main.js'), 'audit', 'verify', ...args]).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout + err.stderr }),
    );

  it('says intact and counts the events of a whole trail, and exits 0', async () => {
    const lines = await trailOf(3);
    const head = JSON.parse(lines[2]!).hash as string;
    const { code, stdout } = await run([file, '--head', head]);
    expect(code).toBe(0);
    expect(stdout).toContain(`intact, 3 entries, head ${head}`);
    expect(stdout).toMatch(/3 {2}aggregator update-accepted/);
  });

  it('names the line where a tampered trail breaks, and exits 1', async () => {
    const lines = await trailOf(3);
    lines[1] = lines[1]!.replace('site-2', 'site-9');
    await writeFile(file, joined(lines));
    const { code, stdout } = await run([file]);
    expect(code).toBe(1);
    expect(stdout).toContain('BROKEN at line 2: entry 2 was changed after it was written');
  });

  it('refuses a head that is not a SHA-256, and exits 2', async () => {
    await trailOf(1);
    expect(await run([file, '--head', 'abc'])).toMatchObject({ code: 2 });
  });
});
