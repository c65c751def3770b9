/**
 * A revoked site, as its agent records it: `revoked.json` in the state directory beside its
 * identity. Revocation is final, so an agent that finds the record does not dial the hub again;
 * it says why once and exits with EXIT_REVOKED (a restarted pod says the same, and no more).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../process/atomic-file.js';

export interface Revocation {
  site: string;
  hub: string;
  /** The hub's words. */
  reason: string;
  /** RFC 3339: when the agent learnt it. */
  revokedAt: string;
}

export const REVOCATION_FILE = 'revoked.json';

/** The exit code of an agent whose site is revoked: retrying cannot help. */
export const EXIT_REVOKED = 3;

export async function saveRevocation(stateDir: string, revocation: Revocation): Promise<void> {
  await writeFileAtomic(join(stateDir, REVOCATION_FILE), (file) => file.writeFile(JSON.stringify(revocation, null, 2)), { mode: 0o600 });
}

export async function loadRevocation(stateDir: string): Promise<Revocation | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, REVOCATION_FILE), 'utf8')) as Revocation;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${join(stateDir, REVOCATION_FILE)}: ${(err as Error).message}`, { cause: err });
  }
}

/** What the agent says, once, when its site is revoked. */
export function revokedMessage(stateDir: string): string {
  return (
    'the hub revoked this site: the agent removed its client pods and will not connect again; ' +
    `to take part again, enrol the hospital as a new Site, with a new join bundle and an empty state directory (not ${stateDir})`
  );
}

/** Thrown by startSiteAgent when the state directory records a revocation. */
export class SiteRevoked extends Error {
  override name = 'SiteRevoked';
  constructor(
    readonly revocation: Revocation,
    stateDir: string,
  ) {
    super(revokedMessage(stateDir));
  }
}
