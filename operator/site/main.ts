/**
 * `flotilla site-agent`: a hospital's agent. Enrols once with the join bundle, then holds one
 * outbound stream to the hub and runs the client pods of the site's assignments in its namespace.
 * When the hub revokes the site the agent records it, removes its client pods, says so once and
 * exits with EXIT_REVOKED; started again, it finds the record and does not dial the hub.
 * With --listen-health it serves /healthz (the process answers, from the start: enrolment may
 * wait for the hub), /readyz (enrolled and holding its stream to the hub) and /metrics.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../api/crds.js';
import { decodeJoinBundle } from '../sitelink/join-bundle.js';
import { startHealthServer, type HealthServer } from '../kube/health.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { parseAddress } from '../process/address.js';
import { siteUidOfPeer } from '../pki/identity.js';
import { createLogger, type Logger } from '../log.js';
import { loadIdentity, saveIdentity } from './agent-identity.js';
import { ClientReconciler } from './client-reconciler.js';
import { enrol } from './enrol.js';
import { HubLink } from './hub-link.js';
import { SiteAudit } from './audit.js';
import { deleteAllManaged } from './kube-objects.js';
import { loadPolicy, type SitePolicy } from './policy.js';
import { loadClientPlacement, type ClientPlacement } from './client-placement.js';
import { SiteAgentMetrics } from './metrics.js';
import { EXIT_REVOKED, loadRevocation, revokedMessage, saveRevocation, SiteRevoked, type Revocation } from './revocation.js';

export interface SiteAgentOptions {
  /** The join bundle's text; read only when the state directory holds no identity yet. */
  joinBundle?: () => Promise<string>;
  namespace: string;
  stateDir: string;
  kubeconfig?: string;
  policy: SitePolicy;
  clientImage?: string;
  /** Where client pods run, beneath each job's own placement. */
  clientPlacement?: ClientPlacement;
  siteDataClaim: string;
  /** The site's claim where client pods keep their audit trails (see PodSettings.auditClaim). */
  auditClaim?: string;
  /** The site's claim where client pods keep what they carry across pods (see PodSettings.stateClaim). */
  clientStateClaim?: string;
  /** Reconnect backoff and keepalive towards the hub (defaults: 1 s to 60 s; pings every 30 s). */
  backoff?: { baseMs: number; maxMs: number };
  keepalive?: { timeMs: number; timeoutMs: number };
  /** Where the agent's metrics go (they name the site once it is known). */
  metrics?: SiteAgentMetrics;
  log?: Logger;
}

export interface SiteAgent {
  site: string;
  /** Resolves once the hub revoked the site and the agent recorded it, stopped and removed its clients. */
  revoked: Promise<Revocation>;
  /** Whether it holds its stream to the hub now and the hub has answered on it. */
  connected(): boolean;
  stop(): Promise<void>;
}

function agentVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

export async function startSiteAgent(options: SiteAgentOptions): Promise<SiteAgent> {
  const log = options.log ?? createLogger('site-agent', { namespace: options.namespace });
  const version = agentVersion();
  if (options.policy.unset) log.warn('no policy file (--policy): every assignment will be refused, nothing runs here until the hospital sets one');
  const kc = loadKubeConfig(options.kubeconfig);
  const recorded = await loadRevocation(options.stateDir);
  if (recorded) {
    // An earlier run may have stopped before its clients were gone.
    await deleteAllManaged(kc, options.namespace);
    throw new SiteRevoked(recorded, options.stateDir);
  }
  let identity = await loadIdentity(options.stateDir);
  if (!identity) {
    if (!options.joinBundle) throw new Error(`${options.stateDir} holds no agent identity yet: pass --join with the join bundle from the hub`);
    identity = await enrol(decodeJoinBundle(await options.joinBundle()), { agentVersion: version, log });
    await saveIdentity(options.stateDir, identity);
  }
  const { site, hub } = identity;
  const audit = await SiteAudit.open(options.stateDir, site, log);
  await audit.started({ hub, version }).catch(() => undefined);
  let onRevoked!: (reason: string) => void;
  const revoked = new Promise<Revocation>((resolve) => {
    onRevoked = (reason) => {
      const revocation: Revocation = { site, hub, reason, revokedAt: new Date().toISOString() };
      // Recorded first, so that an agent killed half-way does not dial again when restarted.
      void audit
        .revoked(reason)
        .catch(() => undefined)
        .then(() => saveRevocation(options.stateDir, revocation))
        .then(() => reconciler.stop())
        .then(() => deleteAllManaged(kc, options.namespace))
        .catch((err: Error) => log.warn('could not finish stopping after the revocation', { site, error: err.message }))
        .then(() => resolve(revocation));
    };
  });
  // The two call each other only once started: the link delivers sets to the reconciler, the
  // reconciler has the link sign client certificates and report status.
  const link: HubLink = new HubLink({
    identity,
    stateDir: options.stateDir,
    agentVersion: version,
    onAssignments: (assignments) => reconciler.setAssignments(assignments),
    onAssignmentChanges: (changed, withdrawn) => reconciler.changeAssignments(changed, withdrawn),
    currentStatus: () => reconciler.currentStatus(),
    onRevoked: (reason) => onRevoked(reason),
    log,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.keepalive ? { keepalive: options.keepalive } : {}),
  });
  const reconciler: ClientReconciler = new ClientReconciler({
    kc,
    namespace: options.namespace,
    site: identity.site,
    siteUid: siteUidOfPeer(new X509Certificate(identity.certificatePem)),
    policy: options.policy,
    defaultDataClaim: options.siteDataClaim,
    ...(options.auditClaim ? { auditClaim: options.auditClaim } : {}),
    ...(options.clientStateClaim ? { stateClaim: options.clientStateClaim } : {}),
    audit,
    ...(options.clientImage ? { clientImage: options.clientImage } : {}),
    ...(options.clientPlacement ? { placement: options.clientPlacement } : {}),
    signer: link,
    onStatus: (statuses) => {
      link.report(statuses);
      options.metrics?.reported(statuses);
    },
    log,
  });
  options.metrics?.identify(site, {
    hubConnected: () => link.linked,
    assignments: () => reconciler.currentStatus(),
    certificateNotAfter: () => link.certificateNotAfter,
  });
  // The pods are known before the first hello, so that it says what runs here.
  await reconciler.start();
  link.start();
  log.info('site agent started', { site, hub, version });
  return {
    site,
    revoked,
    connected: () => link.linked,
    stop: async () => {
      link.stop();
      await reconciler.stop();
      await audit.close();
    },
  };
}

/** The CLI entry: flags as parsed by operator/cli/main.ts. Runs until SIGTERM or SIGINT. */
export async function siteAgentMain(values: Record<string, string | undefined>): Promise<number> {
  const missing = ['namespace', 'state-dir'].filter((flag) => !values[flag]);
  if (missing.length > 0) {
    process.stderr.write(`flotilla site-agent: missing ${missing.map((f) => `--${f}`).join(', ')}\n`);
    return 2;
  }
  const log = createLogger('site-agent', { namespace: values.namespace });
  const metrics = new SiteAgentMetrics();
  let agent: SiteAgent | undefined;
  let health: HealthServer | undefined;
  if (values['listen-health']) {
    let listen: { host: string; port: number };
    try {
      listen = parseAddress(values['listen-health']);
    } catch (err) {
      process.stderr.write(`flotilla site-agent: --listen-health: ${(err as Error).message}\n`);
      return 2;
    }
    health = await startHealthServer({
      listen: { host: listen.host || '0.0.0.0', port: listen.port },
      registry: metrics.registry,
      readyz: () => (!agent ? 'enrolling with the hub or starting' : agent.connected() ? true : 'not connected to the hub'),
    });
  }
  try {
    return await runAgent(values, log, metrics, (started) => (agent = started));
  } finally {
    await health?.close();
  }
}

async function runAgent(values: Record<string, string | undefined>, log: Logger, metrics: SiteAgentMetrics, started: (agent: SiteAgent) => void): Promise<number> {
  let agent: SiteAgent;
  try {
    const join = values.join;
    agent = await startSiteAgent({
      ...(join ? { joinBundle: () => readFile(join, 'utf8') } : {}),
      namespace: values.namespace!,
      stateDir: values['state-dir']!,
      ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
      policy: await loadPolicy(values.policy),
      ...(values['client-image'] ? { clientImage: values['client-image'] } : {}),
      clientPlacement: await loadClientPlacement(values['client-placement']),
      siteDataClaim: values['site-data-claim'] ?? 'site-data',
      ...(values['audit-claim'] ? { auditClaim: values['audit-claim'] } : {}),
      ...(values['client-state-claim'] ? { clientStateClaim: values['client-state-claim'] } : {}),
      metrics,
      log,
    });
  } catch (err) {
    if (err instanceof SiteRevoked) {
      log.error(err.message, { ...err.revocation });
      return EXIT_REVOKED;
    }
    log.error('site agent could not start', { error: (err as Error).message });
    return 1;
  }
  started(agent);
  const revocation = await Promise.race([
    agent.revoked,
    new Promise<undefined>((resolve) => {
      process.once('SIGTERM', () => resolve(undefined));
      process.once('SIGINT', () => resolve(undefined));
    }),
  ]);
  if (revocation) {
    log.error(revokedMessage(values['state-dir']!), { ...revocation });
    return EXIT_REVOKED;
  }
  log.info('site agent stopping', { site: agent.site });
  await agent.stop();
  return 0;
}
