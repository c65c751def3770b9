import { readFile } from 'node:fs/promises';
import { verifyTrail } from './verify.js';

/**
 * `flotilla audit verify FILE [--head HASH] [--json]`: 0 when the trail is whole (and ends at HASH
 * if given), 1 with the line and the reason where it breaks, 2 for a usage error.
 */
export async function auditMain(
  positionals: string[],
  flags: Record<string, string | boolean | undefined>,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const [action, file] = positionals;
  if (action !== 'verify' || !file) {
    err('usage: flotilla audit verify FILE [--head HASH] [--json]');
    return 2;
  }
  const expectHead = typeof flags.head === 'string' ? flags.head : undefined;
  if (expectHead !== undefined && !/^[0-9a-f]{64}$/.test(expectHead)) {
    err(`--head must be a SHA-256 in hex (64 characters), not '${expectHead}'`);
    return 2;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    err(`cannot read ${file}: ${(e as Error).message}`);
    return 2;
  }
  const report = verifyTrail(text, { expectHead });
  if (flags.json) out(JSON.stringify(report));
  else if (report.ok) {
    out(`${file}: intact, ${report.entries} entries, head ${report.head}`);
    for (const [event, count] of Object.entries(report.events)) out(`  ${String(count).padStart(6)}  ${event}`);
  } else {
    out(`${file}: BROKEN at line ${report.broken!.line}: ${report.broken!.reason}`);
    out(`  the ${report.entries} entries before it are intact; the last of them has hash ${report.head}`);
  }
  return report.ok ? 0 : 1;
}
