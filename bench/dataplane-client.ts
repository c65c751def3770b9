import { AggregatorConnection } from '../operator/client/connection.js';
import { SiteSession } from '../operator/client/site-session.js';
import { createLogger } from '../operator/log.js';
import { SyntheticTrainer } from './synthetic-trainer.js';

/** One benchmark site: the real client session and connection, with the synthetic trainer. */
const [address, tlsDir, site, index, parameters, tensors] = process.argv.slice(2);
const log = createLogger('bench-client', { site });
const connection = await AggregatorConnection.dial(address!, tlsDir!);
const session = new SiteSession(connection, new SyntheticTrainer(Number(parameters), Number(tensors), Number(index)), log, {
  clientVersion: 'flotilla-bench',
});
const outcome = await session.run();
connection.close();
process.exitCode = outcome.succeeded ? 0 : 1;
