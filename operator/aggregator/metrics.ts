import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The aggregator's Prometheus metrics, in a registry of its own (so tests and several aggregators
 * in one process never share counters), each labelled with the job.
 */
export class AggregatorMetrics {
  readonly registry = new Registry();
  readonly round: Gauge;
  readonly roundDuration: Histogram;
  readonly participants: Gauge;
  readonly updatesAccepted: Counter;
  readonly updatesRefused: Counter<'reason'>;
  readonly bytesReceived: Counter;
  readonly bytesSent: Counter;
  readonly aggregationSeconds: Histogram;
  readonly globalLoss: Gauge;
  readonly privacyEpsilon: Gauge;
  readonly globalAccuracy: Gauge;

  constructor(job: string, namespace: string) {
    this.registry.setDefaultLabels({ job, namespace });
    collectDefaultMetrics({ register: this.registry, prefix: 'flotilla_aggregator_' });
    const registers = [this.registry];
    this.round = new Gauge({ name: 'flotilla_round', help: 'The training round in progress (0 before training, the last round after it).', registers });
    this.roundDuration = new Histogram({
      name: 'flotilla_round_duration_seconds',
      help: 'Wall time of each closed round, from its start to its close.',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    });
    this.participants = new Gauge({ name: 'flotilla_round_participants', help: 'Sites whose update the last closed round aggregated.', registers });
    this.updatesAccepted = new Counter({ name: 'flotilla_updates_accepted_total', help: 'Site updates accepted (all kinds).', registers });
    this.updatesRefused = new Counter({
      name: 'flotilla_updates_refused_total',
      help: 'Calls and updates refused, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.bytesReceived = new Counter({ name: 'flotilla_bytes_received_total', help: 'Tensor bytes received in updates.', registers });
    this.bytesSent = new Counter({ name: 'flotilla_bytes_sent_total', help: 'Tensor bytes sent in global models.', registers });
    this.aggregationSeconds = new Histogram({
      name: 'flotilla_aggregation_seconds',
      help: "Time to turn a round's running sum into the next global model.",
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.privacyEpsilon = new Gauge({
      name: 'flotilla_privacy_epsilon',
      help: 'Differential privacy: epsilon for the job’s delta spent so far, by the RDP accountant (absent without spec.privacy).',
      registers,
    });
    this.globalLoss = new Gauge({ name: 'flotilla_global_loss', help: "The global model's sample-weighted loss on the sites' test sets.", registers });
    this.globalAccuracy = new Gauge({
      name: 'flotilla_global_accuracy',
      help: "The global model's sample-weighted accuracy on the sites' test sets.",
      registers,
    });
  }

  /**
   * Serves /metrics, /status, /healthz and /readyz over plain HTTP, and takes PUT /revocations (a
   * signed list: `revocations` throws for one it refuses); resolves with the bound port.
   */
  async serve(
    host: string,
    port: number,
    status?: () => Promise<unknown>,
    revocations?: (signed: string) => unknown,
  ): Promise<{ port: number; server: HttpServer }> {
    const server = createServer((req, res) => {
      if (req.url === '/revocations' && req.method === 'PUT' && revocations) {
        // A refused list is the caller's error, answered 400: it never reaches the process.
        readBody(req, MAX_REVOCATIONS_BODY)
          .then((body) => revocations(body))
          .then(
            (result) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result)),
            (err: Error) => res.writeHead(400).end(`${err.message}\n`),
          );
      } else if (req.url === '/status' && status) {
        status().then(
          (report) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report)),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else if (req.url === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else if (req.url === '/healthz' || req.url === '/readyz') {
        // Served only once the federation server is bound: answering at all means ready.
        res.writeHead(200).end('ok\n');
      } else {
        res.writeHead(404).end('see /metrics or /status\n');
      }
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
    return { port: (server.address() as AddressInfo).port, server };
  }
}

/** Revocation lists are small; more than this is refused unread. */
const MAX_REVOCATIONS_BODY = 2 << 20;

/** The request's body as text, or a rejection past `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Read no more of it; the answer says why.
        req.removeAllListeners('data');
        req.resume();
        reject(new Error(`the body is over ${limit} bytes`));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
