/** The sandbox's progress: one line per step, appended to its progress file, which `up` shows as it grows. */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { PROGRESS_FILE, SANDBOX_DIR } from './state.js';

export async function appendProgress(line: string): Promise<void> {
  await mkdir(SANDBOX_DIR, { recursive: true });
  await appendFile(PROGRESS_FILE, `${line}\n`);
  console.log(line);
}

/** Prints the progress lines past `shown` (a count of characters); returns the new count. */
export async function showProgress(shown: number, print: (line: string) => void): Promise<number> {
  const text = await readFile(PROGRESS_FILE, 'utf8').catch(() => '');
  const fresh = text.slice(shown);
  const complete = fresh.lastIndexOf('\n') + 1;
  for (const line of fresh.slice(0, complete).split('\n').filter(Boolean)) print(line);
  return shown + complete;
}
