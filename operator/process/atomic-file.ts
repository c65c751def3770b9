/**
 * writeFileAtomic(path, write): the file at `path` is either the old one or the complete new one,
 * even if the process or the machine dies half-way. `write` fills a temporary file in the same
 * folder through its handle; then it is fsynced, renamed over `path`, and the folder is fsynced so
 * the rename itself survives a crash. If `write` throws, the temporary file is removed and `path`
 * is untouched.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
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
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`); // see TEMPORARY
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

/** The name writeFileAtomic gives its temporary files. */
const TEMPORARY = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temporary files writeFileAtomic left in a folder when its process died half-way.
 * Only for a folder whose one writer is the caller, before it writes: another live writer's
 * temporary file would go too. Returns the names removed.
 */
export async function removeStaleTemporaries(folder: string): Promise<string[]> {
  const names = (await readdir(folder).catch(() => [] as string[])).filter((name) => TEMPORARY.test(name));
  await Promise.all(names.map((name) => rm(join(folder, name), { force: true })));
  return names;
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
