import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';
import { createLogger } from '../log.js';
import { privacyPlan } from '../privacy/job-plan.js';
import { loadFederatedJob, siteNames, type FederatedJob } from '../api/federatedjob.js';
import { AggregatorConnection } from './connection.js';
import { ClientAudit } from './audit.js';
import { HeartbeatThread } from './heartbeat-thread.js';
import type { Personalization } from './personalization.js';
import { TaskLoop, type ClientOutcome } from './task-loop.js';
import { trainerForJob } from './trainer-for-job.js';
import { readTlsFiles } from '../pki/files.js';

export type { ClientOutcome } from './task-loop.js';

export interface ClientOptions {
  /** The FederatedJob manifest. */
  jobFile: string;
  /** The job's namespace; the manifest's, else "default". */
  namespace?: string;
  site: string;
  /** HOST:PORT of the job's aggregator (its certificate must name HOST). */
  aggregator: string;
  /** This site's tls.key and tls.crt, and ca.crt (what the aggregator's certificate must chain to). */
  tlsDir: string;
  /** Scratch space (a command trainer's files). */
  workDir: string;
  /**
   * What must outlive the pod, so that a client rescheduled on a fresh scratch volume goes on where
   * it stopped: SCAFFOLD's c_i and top-k's residual. The work dir unless given (a pod mounts the
   * site's state claim for it).
   */
  stateDir?: string;
  /** The site's data volume: data paths in the job are relative to it. */
  dataRoot: string;
  /** The site's audit trail of what left it; `<workDir>/audit.jsonl` unless given (a pod mounts a site volume for it). */
  auditFile?: string;
  /** Give up when the aggregator has been unreachable this long (10 minutes by default). */
  giveUpAfterMs?: number;
  signal?: AbortSignal;
}

function personalizationOf(job: FederatedJob): Personalization | undefined {
  const p = job.spec.personalization;
  return p && { localEpochs: p.localEpochs, learningRate: p.learningRate ?? job.spec.trainer.learningRate, batchSize: job.spec.trainer.batchSize };
}

/** A site's client process: runs the job's trainer on the site's data, as the aggregator asks. */
export async function runClient(options: ClientOptions): Promise<ClientOutcome> {
  const job = await loadFederatedJob(options.jobFile);
  const namespace = options.namespace ?? job.metadata.namespace ?? 'default';
  const log = createLogger('client', { job: job.metadata.name, namespace, site: options.site });
  const stateDir = options.stateDir ?? options.workDir;
  const trainer = await trainerForJob(
    job,
    options.site,
    options.dataRoot,
    options.workDir,
    (stream, text) => log.info('trainer output', { stream, text: text.trimEnd() }),
    stateDir,
  );
  const audit = await ClientAudit.open(options.auditFile ?? path.join(options.workDir, 'audit.jsonl'), options.site, { namespace, job: job.metadata.name }, options.aggregator);
  try {
    const target = { namespace, job: job.metadata.name };
    const connection = await AggregatorConnection.dial(options.aggregator, options.tlsDir, target);
    const heartbeats = await HeartbeatThread.start(options.aggregator, options.tlsDir, target);
    // Closing the channel ends a pending long poll at once, so a stop is quick.
    options.signal?.addEventListener('abort', () => connection.close(), { once: true });
    try {
      const version = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version as string;
      const loop = new TaskLoop(connection, trainer, log, {
        clientVersion: `flotilla/${version}`,
        giveUpAfterMs: options.giveUpAfterMs,
        signal: options.signal,
        privacy: job.spec.privacy ? privacyPlan(job.spec.privacy, siteNames(job).length, job.spec.sitesPerRound, job.spec.rounds, job.spec.secureAggregation?.threshold) : null,
        heartbeats: heartbeats.during,
        audit,
        personalization: personalizationOf(job),
        residualFile: path.join(stateDir, 'topk-residual.safetensors'),
        resendLostUpdates: job.spec.asynchronous !== undefined,
        // Secure aggregation signs the site's keys with its job certificate: the one it dials with.
        ...(job.spec.secureAggregation ? { secure: { ...target, site: options.site, ...(await readTlsFiles(options.tlsDir)) } } : {}),
      });
      return await loop.run();
    } finally {
      connection.close();
      await heartbeats.close();
    }
  } finally {
    await Promise.all([trainer.close(), audit.close()]);
  }
}
