import { writeFile } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadFederatedJob } from '../api/federatedjob.js';
import { writeFileAtomic } from '../process/atomic-file.js';
import { Federation, grpcMessageLimits } from '../federation/proto.js';
import { createLogger, type Logger } from '../log.js';
import { readTlsFiles } from '../pki/files.js';
import { notAfterOf } from '../pki/x509.js';
import { dialableAddress, parseAddress } from '../process/address.js';
import { listenGuarded } from '../process/guarded-listener.js';
import { Aggregator, type JobOutcome } from './aggregator.js';
import { jobSettings, type JobSettings } from './job-settings.js';
import { AggregatorMetrics } from './metrics.js';
import { StatusReporter } from './status.js';
import { raiseReceiveWindow, receiveWindowFor } from './receive-window.js';
import { SiteRevocations } from './revocations.js';
import { federationHandlers } from './server.js';
import { acceptBulk } from './bulk-server.js';
import { guardSessions } from './session-guard.js';

/** Calls one HTTP/2 session may have open at once: a client has a long poll, a heartbeat and a transfer. */
const MAX_STREAMS_PER_SESSION = 16;

export interface AggregatorOptions {
  /** The FederatedJob manifest. */
  jobFile: string;
  /** The job's namespace (its certificates name it); the manifest's, else "default". */
  namespace?: string;
  /** HOST:PORT for the federation gRPC server; port 0 picks a free one. */
  listen: string;
  /** A TLS Secret's layout: tls.key, tls.crt (the aggregator's chain) and ca.crt (what site certificates must chain to). */
  tlsDir: string;
  /** Checkpoints, result.json and model.safetensors. */
  stateDir: string;
  /** HOST:PORT for /metrics; none when unset. */
  metricsListen?: string;
  /** Written atomically once listening: {"address", "metricsAddress"}. */
  readyFile?: string;
  /** See ServeOptions.revocationsFile. */
  revocationsFile?: string;
  /** Stops the aggregator early (what SIGTERM does); the job resumes from its checkpoint on restart. */
  signal?: AbortSignal;
  /** See ServeOptions.linger. */
  linger?: boolean;
}

export interface Ready {
  address: string;
  metricsAddress: string | null;
}

/** A running aggregator: its addresses, how its job ends, and a way to stop it early. */
export interface RunningAggregator {
  ready: Ready;
  /** Resolves once the job is over and every site that could be told, was. */
  outcome: Promise<JobOutcome>;
  /** Stops serving (the job resumes from its checkpoint on restart). */
  close(): Promise<void>;
}

export interface ServeOptions {
  listen: string;
  tlsDir: string;
  stateDir: string;
  metricsListen?: string;
  /**
   * The revoked sites as the hub signed them for this job (the file beside the job manifest). With
   * it, every caller's certificate must name its Site's uid, revoked ones are refused, and the
   * metrics port takes newer lists (PUT /revocations). A file that is missing or not signed by the
   * job's CA stops the start: an aggregator never serves without knowing the revocations it was given.
   */
  revocationsFile?: string;
  /** Keep serving /status and /metrics after the job ended, until stopped (in a pod: until the operator removes it). */
  linger?: boolean;
  /** Where the structured log goes (JSON on stderr by default). */
  log?: Logger;
}

/** Serves the federation protocol over mutual TLS (and /metrics) for a job's settings. */
export async function startAggregator(settings: JobSettings, options: ServeOptions): Promise<RunningAggregator> {
  const fields = { job: settings.job, namespace: settings.namespace };
  const log = options.log ? options.log.child({ component: 'aggregator', ...fields }) : createLogger('aggregator', fields);
  const metrics = new AggregatorMetrics(settings);
  const tls = await readTlsFiles(options.tlsDir);
  const aggregator = await Aggregator.open(settings, options.stateDir, metrics, log, tls.caPem);

  metrics.servingCertificate(notAfterOf(tls.certPem));
  const revocations = options.revocationsFile
    ? await SiteRevocations.fromFile(options.revocationsFile, tls.caPem, { namespace: settings.namespace, job: settings.job })
    : undefined;
  const credentials = ServerCredentials.createSsl(Buffer.from(tls.caPem), [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }], true);
  const server = new Server({
    ...grpcMessageLimits(),
    // A session without a call for a heartbeat timeout is closed: an honest client calls more often.
    'grpc.max_connection_idle_ms': settings.heartbeatTimeoutMs,
    'grpc.max_concurrent_streams': MAX_STREAMS_PER_SESSION,
  });
  raiseReceiveWindow(server, receiveWindowFor(settings.sites.length), log);
  guardSessions(server, settings, log);
  let bulk = false;
  const handlers = federationHandlers(aggregator, settings, metrics, log, { anchorPem: tls.caPem, ...(revocations ? { revocations } : {}) }, () => bulk);
  bulk = acceptBulk(server, handlers, settings, metrics, log);
  server.addService(Federation.service, handlers);
  const listen = parseAddress(options.listen);
  // Its own listener, so that connections still in their TLS handshake are bounded too.
  const listener = await listenGuarded(server, credentials, { host: listen.host || '0.0.0.0', port: listen.port });
  const port = listener.port;
  let metricsServer: HttpServer | undefined;
  let metricsAddress: string | null = null;
  if (options.metricsListen) {
    const { host, port: metricsPort } = parseAddress(options.metricsListen);
    const reporter = new StatusReporter(aggregator, options.stateDir);
    const accept = revocations
      ? (signed: string) => {
          const result = revocations.accept(signed);
          if (result.added.length > 0) {
            log.warn('sites revoked: their certificates are refused from now on', { sites: result.added });
            void aggregator.audit.revocations(result.added).catch(() => undefined);
          }
          return result;
        }
      : undefined;
    const served = await metrics.serve(host, metricsPort, () => reporter.report(), accept);
    metricsServer = served.server;
    metricsAddress = dialableAddress(host, served.port);
  }
  const ready: Ready = { address: dialableAddress(listen.host, port), metricsAddress };
  log.info('aggregator listening', { ...ready, sites: settings.sites, rounds: settings.rounds, strategy: settings.strategy.name });

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      aggregator.stop();
      listener.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await new Promise((resolve) => (metricsServer ? metricsServer.close(resolve) : resolve(undefined)));
      await aggregator.audit.close();
    })());
  // A trail that cannot be written stops the aggregator: it restarts on its checkpoint.
  const outcome = Promise.race([aggregator.run(), aggregator.audit.broken]).then(
    async (result) => {
      if (!options.linger) await close();
      return result;
    },
    async (err: unknown) => {
      await close();
      throw err;
    },
  );
  return { ready, outcome, close };
}

/**
 * The aggregator process (flotilla aggregator): loads the job, serves it until its end, and resolves
 * with how it ended. The ready file is written once it listens.
 */
export async function runAggregator(options: AggregatorOptions): Promise<JobOutcome> {
  const job = await loadFederatedJob(options.jobFile);
  const settings = jobSettings(job, options.namespace ?? job.metadata.namespace ?? 'default');
  const running = await startAggregator(settings, options);
  if (options.readyFile) await writeFileAtomic(options.readyFile, (file) => writeFile(file, JSON.stringify(running.ready) + '\n'));
  const stopped = new Promise<JobOutcome>((resolve) => {
    const stop = () =>
      void running.close().then(() => resolve({ succeeded: false, message: 'the aggregator was stopped; restart it to resume from its checkpoint' }));
    if (options.signal?.aborted) stop();
    options.signal?.addEventListener('abort', stop, { once: true });
  });
  if (!options.linger) return Promise.race([running.outcome, stopped]);
  // Lingering, the ended job's /status stays readable until the pod is stopped.
  const outcome = await Promise.race([running.outcome, stopped]);
  await stopped;
  return outcome;
}
