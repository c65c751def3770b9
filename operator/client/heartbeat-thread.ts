import path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../api/crds.js';
import type { HeartbeatCommand, HeartbeatWorkerData } from './heartbeat-worker.js';

/** Runs work while telling the aggregator the site is alive; open is false if the round closed meanwhile. */
export type Heartbeating = <T>(round: number, intervalMs: number, work: () => Promise<T>) => Promise<{ value: T; open: boolean }>;

/**
 * Heartbeats from a thread of their own. A trainer may hold the main thread for minutes (the built-in
 * one trains synchronously; so may any in-process trainer); a timer there would not fire, and the
 * aggregator would drop the site for silence while it trains. The thread has its own event loop and
 * its own connection with the site's certificate, so it beats on time whatever the trainer does; it
 * says through shared memory whether the aggregator answered that the round closed.
 */
export class HeartbeatThread {
  private generation = 0;

  private constructor(
    private readonly worker: Worker,
    /** [generation of the work under way, generation the aggregator said closed]. */
    private readonly flags: Int32Array,
  ) {}

  static async start(address: string, tlsDir: string, job: { namespace: string; job: string }): Promise<HeartbeatThread> {
    // The compiled worker: under the test runner too, as sources are not loadable as a worker.
    const file = path.join(packageRoot, 'dist/operator/client/heartbeat-worker.js');
    const flags = new SharedArrayBuffer(8);
    const worker = new Worker(file, { workerData: { address, tlsDir, job, flags } satisfies HeartbeatWorkerData });
    const [message] = (await Promise.race([once(worker, 'message'), once(worker, 'error').then(([err]) => Promise.reject(err as Error))])) as [unknown];
    if (message !== 'ready') throw new Error(`the heartbeat thread said ${String(message)}`);
    // Best effort, as the link itself: a thread that died leaves the site to be dropped for silence.
    worker.on('error', () => {});
    worker.unref();
    return new HeartbeatThread(worker, new Int32Array(flags));
  }

  readonly during: Heartbeating = async (round, intervalMs, work) => {
    const generation = ++this.generation;
    Atomics.store(this.flags, 0, generation);
    this.send({ kind: 'start', generation, round, intervalMs });
    try {
      const value = await work();
      return { value, open: Atomics.load(this.flags, 1) !== generation };
    } finally {
      this.send({ kind: 'stop' });
    }
  };

  async close(): Promise<void> {
    this.send({ kind: 'close' });
    await this.worker.terminate();
  }

  private send(command: HeartbeatCommand): void {
    this.worker.postMessage(command);
  }
}
