/**
 * A crash in the middle of a durable write leaves a temporary file behind (the old file stays whole,
 * which is the point). Here a real process is SIGKILLed half-way through writing the checkpoint's
 * state.json and the job's result.json; the aggregator that next opens that state dir removes
 * what they left, and keeps everything else.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { startAggregator } from '../../operator/aggregator/run.js';
import { TestPki, memoryLogger, tempDir, testJob } from './fixtures.js';

/** Starts writing `file` atomically in a child process, and kills it with SIGKILL half-way. */
async function crashWhileWriting(file: string): Promise<void> {
  const atomic = path.join(packageRoot, 'dist/operator/process/atomic-file.js');
  const script = `
    const { writeFileAtomic } = await import(${JSON.stringify(atomic)});
    await writeFileAtomic(${JSON.stringify(file)}, async (handle) => {
      await handle.write('{"half of a');
      process.send('half');
      await new Promise(() => {});
    });`;
  const child = fork('--input-type=module', ['-e', script], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  await once(child, 'message');
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe("an aggregator's state dir after a crash during a write", () => {
  it('is cleared of the temporary files the crash left, and only of those', async () => {
    const tmp = await tempDir('state-dir');
    try {
      const stateDir = path.join(tmp.dir, 'state');
      await mkdir(path.join(stateDir, 'checkpoint'), { recursive: true });
      await crashWhileWriting(path.join(stateDir, 'checkpoint', 'state.json'));
      await crashWhileWriting(path.join(stateDir, 'result.json'));
      await writeFile(path.join(stateDir, '.someone-elses'), 'kept');
      const listing = async () => [...(await readdir(stateDir)), ...(await readdir(path.join(stateDir, 'checkpoint'))).map((f) => `checkpoint/${f}`)].sort();
      expect((await listing()).filter((f) => f.endsWith('.tmp'))).toHaveLength(2);

      const pki = await TestPki.create(tmp.dir, 'heart');
      const settings = testJob('heart', { sites: { names: ['a'] }, rounds: 1, minSites: 1 });
      const aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir, log: memoryLogger().log });
      await aggregator.close();
      expect(await listing()).toEqual(['.someone-elses', 'audit.jsonl', 'checkpoint', 'journal']);
    } finally {
      await tmp.remove();
    }
  });
});
