/**
 * Long local training must not get a site dropped: a trainer that holds the client's thread for
 * longer than the job's heartbeat timeout (as the built-in trainer does, training synchronously)
 * still reports in time, because the client heartbeats from a thread of its own. The aggregator runs
 * as its own process, as in a pod: in this one it would be held up by the trainer too. The same trainer
 * with heartbeats on the client's own timer is dropped for silence: the test can tell the two apart.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { packageRoot } from '../../operator/api/crds.js';
import type { JobResult } from '../../operator/aggregator/result.js';
import { eventually } from '../support/eventually.js';
import { AggregatorConnection } from '../../operator/client/connection.js';
import { HeartbeatThread } from '../../operator/client/heartbeat-thread.js';
import { TaskLoop } from '../../operator/client/task-loop.js';
import { NAMESPACE, TestPki, memoryLogger, tempDir, testTrainer } from './fixtures.js';

const HEARTBEAT_TIMEOUT_MS = 3_000;
const TRAINING_MS = 3 * HEARTBEAT_TIMEOUT_MS;

/** Trains by holding the thread, never yielding, for TRAINING_MS. */
const blockingTrainer = () =>
  testTrainer(
    () => [{ name: 'w', shape: [4], data: new Float32Array(4) }],
    (global) => {
      const until = Date.now() + TRAINING_MS;
      while (Date.now() < until) {
        // Busy: what a synchronous SGD loop does to the event loop.
      }
      return { model: global.map((t) => ({ ...t, data: t.data.map((x) => x + 1) })), metrics: { numSamples: 10, loss: 0.4, accuracy: 0.6 } };
    },
  );

describe('heartbeats during long local training', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  beforeAll(async () => {
    tmp = await tempDir('heartbeat-training');
    pki = await TestPki.create(tmp.dir, 'heart');
  });
  afterAll(() => tmp.remove());

  async function run(name: string, ownThread: boolean): Promise<JobResult> {
    const dir = path.join(tmp.dir, name);
    const job = {
      apiVersion: 'flotilla.dev/v1alpha1',
      kind: 'FederatedJob',
      metadata: { name: 'heart', namespace: NAMESPACE },
      spec: {
        sites: { names: ['a'] },
        rounds: 1,
        minSites: 1,
        maxRoundRetries: 0,
        roundDeadlineSeconds: 60,
        heartbeatTimeoutSeconds: HEARTBEAT_TIMEOUT_MS / 1000,
        trainer: { command: ['true'] },
      },
    };
    const jobFile = `${dir}.json`;
    await writeFile(jobFile, JSON.stringify(job));
    const tlsDir = await pki.client('a');
    const readyFile = `${dir}.ready.json`;
    const aggregator = spawn(
      process.execPath,
      [path.join(packageRoot, 'dist/operator/cli/main.js'), 'aggregator', '--job', jobFile, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--tls-dir', await pki.aggregator(), '--state-dir', dir, '--ready-file', readyFile],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    const exited = once(aggregator, 'exit');
    try {
      let address = '';
      await eventually(async () => {
        address = (JSON.parse(await readFile(readyFile, 'utf8')) as { address: string }).address;
        return true;
      }, 60_000, 'the aggregator ready');
      const target = { namespace: NAMESPACE, job: 'heart' };
      const connection = await AggregatorConnection.dial(address, tlsDir, target);
      const thread = ownThread ? await HeartbeatThread.start(address, tlsDir, target) : null;
      try {
        const loop = new TaskLoop(connection, blockingTrainer(), memoryLogger().log, {
          clientVersion: 'test',
          pollMs: 1_000,
          // A dropped site may find the aggregator gone once it has trained: the job failed meanwhile.
          giveUpAfterMs: 5_000,
          heartbeats: thread?.during,
        });
        await loop.run();
      } finally {
        connection.close();
        await thread?.close();
      }
      await exited;
      return JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8')) as JobResult;
    } finally {
      if (aggregator.exitCode === null) aggregator.kill('SIGKILL');
    }
  }

  it('keeps a site that trains for three heartbeat timeouts without yielding', async () => {
    const result = await run('own-thread', true);
    expect(result.status).toBe('Succeeded');
    expect(result.rounds.map((r) => r.participants)).toEqual([['a']]);
  }, 120_000);

  it('drops it when the heartbeats run on the trainer’s thread', async () => {
    const result = await run('same-thread', false);
    expect(result.status).toBe('Failed');
    expect(result.reason).toMatch(/silent for over 3s: a/);
  }, 120_000);
});
