/**
 * The images real nodes run, made on this machine: the project's image (`npm run image`'s script,
 * from this checkout's dist/, which `npm test` builds first) and the pod sandbox image. Each is
 * saved once per image id as an archive that the nodes' containerds import.
 */
import { access, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../../operator/api/crds.js';
import { run } from './run.js';

export interface LocalImage {
  /** name:tag, as pods name it. */
  name: string;
  /** A docker-archive of it, for `ctr images import`. */
  archive: string;
}

const cacheDir = path.join(process.env.FLOTILLA_IMAGE_CACHE ?? path.join(homedir(), '.cache/flotilla/images'));
const BUILD_TIMEOUT_MS = 15 * 60_000;

let flotilla: Promise<LocalImage> | undefined;
const pauses = new Map<string, Promise<LocalImage>>();

/** localhost/flotilla:<version>, built from this checkout (a few seconds when nothing changed). */
export function flotillaImage(): Promise<LocalImage> {
  flotilla ??= (async () => {
    const out = await run('bash', [path.join(packageRoot, 'scripts/image/build.sh')], { timeoutMs: BUILD_TIMEOUT_MS });
    return archived(lastLine(out));
  })();
  return flotilla;
}

/** localhost/flotilla/pause:<hash>, from the pause program in the tools' bin dir. */
export function pauseImage(binDir: string): Promise<LocalImage> {
  let image = pauses.get(binDir);
  if (!image) {
    image = (async () => {
      const out = await run('bash', [path.join(packageRoot, 'scripts/image/pause.sh'), path.join(binDir, 'pause')]);
      return archived(lastLine(out));
    })();
    pauses.set(binDir, image);
  }
  return image;
}

async function archived(name: string): Promise<LocalImage> {
  const id = (await run('podman', ['image', 'inspect', '--format', '{{.Id}}', name])).trim();
  const suffix = `-${name.replace(/[^A-Za-z0-9.-]+/g, '_')}.tar`;
  const archive = path.join(cacheDir, `${id.slice(0, 16)}${suffix}`);
  const exists = await access(archive).then(() => true, () => false);
  if (!exists) {
    await mkdir(cacheDir, { recursive: true });
    const partial = `${archive}.${process.pid}.partial`;
    await run('podman', ['save', '--format', 'docker-archive', '--output', partial, name], { timeoutMs: BUILD_TIMEOUT_MS });
    await rename(partial, archive);
    // Older builds of the same name are of no further use.
    for (const file of await readdir(cacheDir)) {
      if (file.endsWith(suffix) && path.join(cacheDir, file) !== archive) await rm(path.join(cacheDir, file), { force: true });
    }
  }
  return { name, archive };
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()!.trim();
}
