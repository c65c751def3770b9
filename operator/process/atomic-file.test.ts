import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

describe('writeFileAtomic', () => {
  let folder: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'flotilla-atomic-'));
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('writes a new file with the given mode and leaves nothing else behind', async () => {
    const path = join(folder, 'model.safetensors');
    await writeFileAtomic(path, async (file) => void (await file.write('hello')), { mode: 0o600 });
    expect(readFileSync(path, 'utf8')).toBe('hello');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(folder)).toEqual(['model.safetensors']);
  });

  it('keeps the old content visible until the new one is complete', async () => {
    const path = join(folder, 'checkpoint');
    writeFileSync(path, 'old');
    await writeFileAtomic(path, async (file) => {
      await file.write('new, half');
      expect(readFileSync(path, 'utf8')).toBe('old');
      await file.write(' and whole');
    });
    expect(readFileSync(path, 'utf8')).toBe('new, half and whole');
    expect(readdirSync(folder)).toEqual(['checkpoint']);
  });

  it('leaves the old file untouched and removes the temporary one when writing fails', async () => {
    const path = join(folder, 'checkpoint');
    writeFileSync(path, 'old');
    const failure = writeFileAtomic(path, async (file) => {
      await file.write('partial');
      throw new Error('disk on fire');
    });
    await expect(failure).rejects.toThrow('disk on fire');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(folder)).toEqual(['checkpoint']);
  });
});
