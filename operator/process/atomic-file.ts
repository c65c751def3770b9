/**
 * writeFileAtomic(path, write): the file at `path` is either the old one or the complete new one,
 * even if the process or the machine dies half-way. `write` fills a temporary file in the same
 * folder through its handle; then it is fsynced, renamed over `path`, and the folder is fsynced so
 * the rename itself survives a crash. If `write` throws, the temporary file is removed and `path`
 * is untouched.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { faultPoint, pointName } from './fault-points.js';

export interface AtomicWriteOptions {
  /** Permissions of the new file (before the umask); 0o644 unless given. */
  mode?: number;
}

export async function writeFileAtomic(
  path: string,
  write: (file: FileHandle) => Promise<void>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const folder = dirname(path);
  // Hidden and unique, so that concurrent writers and readers listing the folder never collide.
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const point = `write ${pointName(basename(path))}`;
  const file = await open(temporary, 'wx', options.mode ?? 0o644);
  try {
    try {
      await write(file);
      await file.sync();
    } finally {
      await file.close();
    }
    await faultPoint(`${point} synced`);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await faultPoint(`${point} renamed`);
  await syncFolder(folder);
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
