import { parentPort, workerData } from 'node:worker_threads';
import { AggregatorConnection } from './connection.js';

/**
 * The heartbeat thread's body (see heartbeat-thread.ts): its own connection to the aggregator, with
 * the site's certificate, and a timer that no trainer on the main thread can hold up.
 */
export interface HeartbeatWorkerData {
  address: string;
  tlsDir: string;
  job: { namespace: string; job: string };
  /** Int32 [generation, closed generation]: the main thread reads whether the round closed. */
  flags: SharedArrayBuffer;
}

export type HeartbeatCommand = { kind: 'start'; generation: number; round: number; intervalMs: number } | { kind: 'stop' } | { kind: 'close' };

const GENERATION = 0;
const CLOSED = 1;

async function main(): Promise<void> {
  const data = workerData as HeartbeatWorkerData;
  const flags = new Int32Array(data.flags);
  const connection = await AggregatorConnection.dial(data.address, data.tlsDir, data.job);
  let timer: NodeJS.Timeout | undefined;
  parentPort!.on('message', (command: HeartbeatCommand) => {
    clearInterval(timer);
    timer = undefined;
    if (command.kind === 'close') {
      connection.close();
      parentPort!.close();
      return;
    }
    if (command.kind !== 'start') return;
    const { generation, round, intervalMs } = command;
    timer = setInterval(() => {
      connection.heartbeat(round, 0).then(
        // Only for the work it was started for: an answer that comes late must not close the next.
        (open) => {
          if (!open && Atomics.load(flags, GENERATION) === generation) Atomics.store(flags, CLOSED, generation);
        },
        () => {},
      );
    }, intervalMs);
  });
  parentPort!.postMessage('ready');
}

void main();
