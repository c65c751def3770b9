import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../process/process-metrics.js';
import type { JobSettings } from './job-settings.js';
import { REFUSAL_REASONS } from './refusal.js';
import type { Figures } from './result.js';
import type { RoundTrafficRecord } from './round-traffic.js';

/** What the collect-time gauges read of the round state; times in ms since the epoch. */
export interface RoundView {
  /** The deadline of the phase in progress; undefined once the job ended. */
  deadline(): number | undefined;
  /** The sites the phase in progress waits for (RoundState.awaited). */
  awaited(): readonly string[];
  lastSeen(site: string): number | undefined;
}

/**
 * The aggregator's Prometheus metrics, in a registry of its own (so tests and several aggregators
 * in one process never share counters). Every series carries `namespace` and `federatedjob` (never
 * `job`: that label is Prometheus's own, the scrape job); per-site series add `site`, one of the
 * job's sites, so the number of series is bounded by job x site. docs/metrics.md lists them.
 */
export class AggregatorMetrics {
  readonly registry = new Registry();
  readonly round: Gauge;
  readonly roundDuration: Histogram;
  readonly participants: Gauge;
  readonly updatesAccepted: Counter<'site'>;
  /** site is '' when the caller could not be identified as one of the job's sites. */
  readonly updatesRefused: Counter<'site' | 'reason'>;
  readonly bytesReceived: Counter<'site'>;
  readonly bytesSent: Counter<'site'>;
  readonly uploadDuration: Histogram<'site'>;
  readonly aggregationSeconds: Histogram;
  /** Under asynchronous aggregation: each applied update's staleness (versions behind). */
  readonly updateStaleness: Histogram;
  readonly globalLoss: Gauge;
  readonly privacyEpsilon: Gauge;
  readonly globalAccuracy: Gauge;
  /** The last closed round's chunk bytes on the wire, by direction (download, upload). */
  readonly roundTrafficBytes: Gauge<'direction'>;
  readonly roundCompressionFactor: Gauge;
  readonly roundDownloadError: Gauge;
  private readonly siteSamples: Gauge<'site'>;
  private readonly siteAccuracy: Gauge<'site'>;
  private readonly siteLoss: Gauge<'site'>;
  private readonly roundsParticipated: Counter<'site'>;
  private readonly lastRound: Gauge<'site'>;
  private readonly certificateExpiry: Gauge<'certificate'>;
  private view: RoundView | undefined;

  constructor(settings: Pick<JobSettings, 'job' | 'namespace' | 'sites' | 'rounds' | 'heartbeatTimeoutMs'>) {
    const { sites } = settings;
    this.registry.setDefaultLabels({ namespace: settings.namespace, federatedjob: settings.job });
    collectProcessMetrics(this.registry, 'flotilla_aggregator_');
    const registers = [this.registry];
    const view = () => this.view;
    this.round = new Gauge({ name: 'flotilla_round', help: 'The training round in progress (0 before training, the last round after it).', registers });
    new Gauge({ name: 'flotilla_job_rounds', help: 'The rounds the job trains (spec.rounds).', registers }).set(settings.rounds);
    new Gauge({
      name: 'flotilla_heartbeat_timeout_seconds',
      help: 'How long a selected site may be silent before it is dropped from the round (spec.heartbeatTimeoutSeconds).',
      registers,
    }).set(settings.heartbeatTimeoutMs / 1000);
    new Gauge({
      name: 'flotilla_round_deadline_timestamp_seconds',
      help: 'When the phase in progress (a round, or initialization, statistics, evaluation) reaches its deadline; absent once the job ended.',
      registers,
      collect() {
        const deadline = view()?.deadline();
        // remove(), not reset(): an unlabelled gauge reset reads 0, a deadline long past.
        if (deadline === undefined) this.remove();
        else this.set(deadline / 1000);
      },
    });
    new Gauge({
      name: 'flotilla_site_awaited',
      help: 'Whether the phase in progress asked the site for an update and has none from it yet (1), dropped for silence included, or not (0).',
      labelNames: ['site'],
      registers,
      collect() {
        const awaited = new Set(view()?.awaited() ?? []);
        for (const site of sites) this.set({ site }, awaited.has(site) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'flotilla_site_last_seen_timestamp_seconds',
      help: 'When this aggregator last heard from the site (any call, a heartbeat, a chunk); absent until it has.',
      labelNames: ['site'],
      registers,
      collect() {
        this.reset();
        for (const site of sites) {
          const at = view()?.lastSeen(site);
          if (at !== undefined) this.set({ site }, at / 1000);
        }
      },
    });
    this.certificateExpiry = new Gauge({
      name: 'flotilla_certificate_expiry_timestamp_seconds',
      help: "When the aggregator's serving certificate expires (notAfter); the operator renews it by a new Secret and a rollout.",
      labelNames: ['certificate'],
      registers,
    });
    this.roundDuration = new Histogram({
      name: 'flotilla_round_duration_seconds',
      help: 'Wall time of each closed round, from its start to its close.',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    });
    this.participants = new Gauge({ name: 'flotilla_round_participants', help: 'Sites whose update the last closed round aggregated.', registers });
    this.updatesAccepted = new Counter({ name: 'flotilla_updates_accepted_total', help: 'Site updates accepted (all kinds).', labelNames: ['site'], registers });
    this.updatesRefused = new Counter({
      name: 'flotilla_updates_refused_total',
      help: "Calls and updates refused, by site ('' when the caller is not one of the job's sites) and reason.",
      labelNames: ['site', 'reason'],
      registers,
    });
    this.bytesReceived = new Counter({ name: 'flotilla_update_received_bytes_total', help: 'Tensor bytes received in updates.', labelNames: ['site'], registers });
    this.bytesSent = new Counter({ name: 'flotilla_model_sent_bytes_total', help: 'Tensor bytes sent in global models.', labelNames: ['site'], registers });
    this.uploadDuration = new Histogram({
      name: 'flotilla_update_upload_duration_seconds',
      help: 'Time from the header of an accepted update to its last chunk folded in.',
      labelNames: ['site'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    });
    this.updateStaleness = new Histogram({
      name: 'flotilla_update_staleness',
      help: 'Under asynchronous aggregation, the staleness (versions made since the one it was trained on) of each update a version applied.',
      buckets: [0, 1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.aggregationSeconds = new Histogram({
      name: 'flotilla_aggregation_duration_seconds',
      help: "Time to turn a round's running sum into the next global model.",
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.privacyEpsilon = new Gauge({
      name: 'flotilla_privacy_epsilon',
      help: 'Differential privacy: epsilon for the job’s delta spent so far, by the RDP accountant (absent without spec.privacy).',
      registers,
    });
    this.roundTrafficBytes = new Gauge({
      name: 'flotilla_round_traffic_bytes',
      help: "Chunk bytes of the models sent (direction download) and training updates received (upload) in the last closed round: on the wire, encoded as spec.compression says.",
      labelNames: ['direction'],
      registers,
    });
    this.roundCompressionFactor = new Gauge({
      name: 'flotilla_round_compression_factor',
      help: 'How many times fewer bytes the last closed round sent and received than unencoded float32 models would have (1 without spec.compression).',
      registers,
    });
    this.roundDownloadError = new Gauge({
      name: 'flotilla_round_download_error',
      help: "Relative L2 error the download encoding made of the last closed round's global model (0 unencoded).",
      registers,
    });
    this.globalLoss = new Gauge({ name: 'flotilla_global_loss', help: "The global model's sample-weighted loss on the sites' test sets.", registers });
    this.globalAccuracy = new Gauge({
      name: 'flotilla_global_accuracy',
      help: "The global model's sample-weighted accuracy on the sites' test sets.",
      registers,
    });
    this.siteSamples = new Gauge({
      name: 'flotilla_site_samples',
      help: "The training records the site's last accepted training update was weighted by.",
      labelNames: ['site'],
      registers,
    });
    this.siteAccuracy = new Gauge({
      name: 'flotilla_site_test_accuracy',
      help: "The accuracy of the global model on the site's test split, as its last accepted update reported it.",
      labelNames: ['site'],
      registers,
    });
    this.siteLoss = new Gauge({
      name: 'flotilla_site_test_loss',
      help: "The loss of the global model on the site's test split, as its last accepted update reported it.",
      labelNames: ['site'],
      registers,
    });
    this.roundsParticipated = new Counter({
      name: 'flotilla_site_rounds_participated_total',
      help: "Training rounds that aggregated the site's update.",
      labelNames: ['site'],
      registers,
    });
    this.lastRound = new Gauge({
      name: 'flotilla_site_last_round',
      help: "The last training round that aggregated the site's update; absent until one did.",
      labelNames: ['site'],
      registers,
    });
    // Zeros from the start, so that rate() and increase() see a site's first update or refusal.
    for (const site of sites) {
      for (const counter of [this.updatesAccepted, this.bytesReceived, this.bytesSent, this.roundsParticipated]) counter.inc({ site }, 0);
      for (const reason of REFUSAL_REASONS) this.updatesRefused.inc({ site, reason }, 0);
    }
  }

  /** The serving certificate this aggregator runs with. */
  servingCertificate(notAfter: Date): void {
    this.certificateExpiry.set({ certificate: 'aggregator' }, notAfter.getTime() / 1000);
  }

  /** Where the collect-time gauges read the round state from. */
  watch(view: RoundView): void {
    this.view = view;
  }

  /** An update arrived whole: its site's figures, and how long it took. */
  accepted(site: string, update: { kind: string; numSamples: number; eval: Figures | null }, seconds: number): void {
    this.updatesAccepted.inc({ site });
    this.uploadDuration.observe({ site }, seconds);
    if (update.kind === 'TRAIN') this.siteSamples.set({ site }, update.numSamples);
    if (update.eval) {
      this.siteAccuracy.set({ site }, update.eval.accuracy);
      this.siteLoss.set({ site }, update.eval.loss);
    }
  }

  roundTraffic(traffic: RoundTrafficRecord): void {
    this.roundTrafficBytes.set({ direction: 'download' }, traffic.downloadBytes);
    this.roundTrafficBytes.set({ direction: 'upload' }, traffic.uploadBytes);
    if (traffic.factor !== null) this.roundCompressionFactor.set(traffic.factor);
    this.roundDownloadError.set(traffic.downloadError);
  }

  /** A training round closed with these sites' updates. */
  roundClosed(round: number, participants: readonly string[]): void {
    this.participants.set(participants.length);
    for (const site of participants) {
      this.roundsParticipated.inc({ site });
      this.lastRound.set({ site }, round);
    }
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
