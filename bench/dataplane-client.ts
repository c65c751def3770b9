import { AggregatorConnection } from '../operator/client/connection.js';
import { readTlsFiles } from '../operator/pki/files.js';
import { TaskLoop } from '../operator/client/task-loop.js';
import { createLogger } from '../operator/log.js';
import { SyntheticTrainer } from './synthetic-trainer.js';

/** One benchmark site: the real client task loop and connection, with the synthetic trainer. */
const [address, tlsDir, site, index, parameters, tensors, aggregation] = process.argv.slice(2);
const log = createLogger('bench-client', { site });
// The benchmark's job is bench/bench (dataplane.ts).
const connection = await AggregatorConnection.dial(address!, tlsDir!, { namespace: 'bench', job: 'bench' });
const loop = new TaskLoop(connection, new SyntheticTrainer(Number(parameters), Number(tensors), Number(index)), log, {
  clientVersion: 'flotilla-bench',
  ...(aggregation?.startsWith('secagg') ? { secure: { namespace: 'bench', job: 'bench', site: site!, ...(await readTlsFiles(tlsDir!)) } } : {}),
});
const outcome = await loop.run();
connection.close();
process.exitCode = outcome.succeeded ? 0 : 1;
