/**
 * `flotilla operator`: hub mode. Every replica keeps the informer caches warm; the one holding the
 * Lease `flotilla-operator` runs the controllers and the site gateway, and labels its pod so that the
 * gateway Service selects it (leader-label.ts). /healthz answers while the process lives, /readyz
 * once the caches are synced (standbys too), /leaderz while it leads, /metrics always. SIGTERM stops the
 * workers (letting reconciles in flight finish), closes the gateway, releases the Lease so a
 * standby takes over at once, and exits, all within --shutdown-timeout.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { EventRecorder } from '../kube/events.js';
import { startHealthServer } from '../kube/health.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { LeaderElector } from '../kube/leader-election.js';
import { createLogger } from '../log.js';
import { JobAssignments } from './controllers/assignments.js';
import { allInformers, hubCaches, type HubCaches } from './controllers/hub-caches.js';
import { HubControllers } from './controllers/hub-controllers.js';
import { SiteGatewayServer } from './gateway/site-gateway.js';
import { SiteSessionRegistry } from './gateway/sessions.js';
import { HubAudit, NO_HUB_AUDIT } from './audit.js';
import { JoinTokens } from './join-tokens.js';
import { LeaderLabel } from './leader-label.js';
import { operatorMetrics } from './metrics.js';
import { HubPki } from './pki.js';
import { RevokedSites } from './revocation/revoked-sites.js';
import { operatorSettings, serverNames, type OperatorSettings } from './operator-settings.js';

const log = createLogger('operator');

export const LEASE_NAME = 'flotilla-operator';

/** What runs while this replica leads. */
interface Term {
  sessions: SiteSessionRegistry;
  stop(): Promise<void>;
}

export async function operatorMain(values: Record<string, string | boolean | undefined>): Promise<number> {
  let settings: OperatorSettings;
  try {
    settings = operatorSettings(values);
  } catch (err) {
    process.stderr.write(`flotilla operator: ${(err as Error).message}\n`);
    return 2;
  }
  const kc = loadKubeConfig(settings.kubeconfig);
  const caches = hubCaches(kc, log, settings.namespace);
  let term: Term | undefined;
  let leading = false;
  const registry = operatorMetrics({ caches, namespace: settings.namespace, leading: () => leading && term !== undefined });
  const health = await startHealthServer({
    listen: settings.health,
    registry,
    readyz: () => (caches.jobs.hasSynced() ? true : 'caches not synced'),
    extra: { '/leaderz': () => (leading && term ? true : 'not the leader (standby)') },
  });
  const leaderLabel = new LeaderLabel(kc, settings.namespace, settings.identity, log);
  log.info('operator starting', { identity: settings.identity, namespace: settings.namespace, health: health.address, leaderElect: settings.leaderElect });

  const stopping = new AbortController();
  const onSignal = () => stopping.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let failed = false;
  try {
    await Promise.race([Promise.all(allInformers(caches).map((i) => i.start())), aborted(stopping.signal)]);
    if (stopping.signal.aborted) return 0;
    const pki = await HubPki.open({ kc, namespace: settings.namespace });
    const startTerm = async (): Promise<Term> => {
      term = await lead(kc, caches, pki, registry, settings);
      leading = true;
      return term;
    };
    if (!settings.leaderElect) {
      const current = await startTerm();
      await aborted(stopping.signal);
      await withDeadline(current.stop(), settings.shutdownTimeoutMs);
      return 0;
    }
    const elector = new LeaderElector(kc, { namespace: settings.namespace, name: LEASE_NAME, identity: settings.identity, logger: log });
    const campaign = elector.run({
      onStartedLeading: async (signal) => {
        log.info('leading: starting the controllers and the site gateway', { identity: settings.identity });
        let current: Term;
        try {
          current = await startTerm();
        } catch (err) {
          // A leader that cannot work must not hold the Lease: exit, and let another replica lead.
          log.error('could not start leading; exiting', { error: (err as Error).message });
          failed = true;
          stopping.abort();
          return;
        }
        try {
          // Only now does the gateway Service send agents here.
          await leaderLabel.mark();
        } catch (err) {
          log.error('could not label this pod as the leader, so no agent would reach it; exiting', { error: (err as Error).message });
          failed = true;
          stopping.abort();
        }
        await aborted(signal);
        leading = false;
        await leaderLabel.unmark().catch((err: Error) => log.warn('could not take the leader label off this pod', { error: err.message }));
        await withDeadline(current.stop(), settings.shutdownTimeoutMs);
        term = undefined;
      },
      onStoppedLeading: () => {
        leading = false;
        if (stopping.signal.aborted) return;
        failed = true;
        log.error('lost the leadership; exiting so that a fresh process stands by');
        stopping.abort();
      },
    });
    await Promise.race([aborted(stopping.signal), campaign]);
    // Stops the term (letting it drain while the Lease is still held), then hands the Lease over.
    await withDeadline(elector.release(), settings.shutdownTimeoutMs);
    return failed ? 1 : 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    allInformers(caches).forEach((i) => i.stop());
    await health.close();
    log.info('operator stopped');
  }
}

/** Starts the gateway and the controllers for one term of leadership. */
async function lead(kc: k8s.KubeConfig, caches: HubCaches, pki: HubPki, registry: Registry, s: OperatorSettings): Promise<Term> {
  // One writer per trail: the leader, from the start of its term.
  const audit = s.auditFile ? await HubAudit.open(s.auditFile, s.identity, log.child({ component: 'audit' })) : NO_HUB_AUDIT;
  const sessions = new SiteSessionRegistry();
  const assignments = new JobAssignments({ jobs: caches.jobs, sites: caches.sites, sessions, defaultImage: s.image });
  const joinTokens = new JoinTokens({
    kc,
    namespace: s.namespace,
    gatewayAddress: s.gatewayAddress,
    enrollmentAddress: s.enrollmentAddress,
    caPem: pki.siteCa().certPem,
  });
  const gateway = new SiteGatewayServer({
    pki,
    joinTokens,
    sites: caches.sites,
    assignments,
    sessions,
    mainAddress: s.gatewayListen,
    enrollmentAddress: s.enrollmentListen,
    serverNames: serverNames([s.gatewayAddress, s.enrollmentAddress]),
    audit,
    log: log.child({ component: 'site-gateway' }),
  });
  await gateway.start();
  const controllers = new HubControllers({
    kc,
    caches,
    sessions,
    assignments,
    pki,
    revoked: await RevokedSites.load({ kc, namespace: s.namespace, pki }),
    joinTokens,
    events: new EventRecorder(kc, { component: 'flotilla-operator', instance: s.identity, logger: log }),
    audit,
    log,
    registry,
    namespace: s.namespace,
    image: s.image,
    serviceType: s.serviceType,
    endpointTemplate: s.endpointTemplate,
    disconnectedSiteGraceMs: s.disconnectedSiteGraceMs,
    joinTokenTtlSeconds: s.joinTokenTtlSeconds,
  });
  const running = controllers.run();
  return {
    sessions,
    async stop() {
      await controllers.stop();
      await gateway.stop();
      await running;
      await audit.close();
    },
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

async function withDeadline(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn('shutdown deadline passed; exiting with work unfinished', { deadlineMs: ms });
      resolve();
    }, ms);
  });
  await Promise.race([work, deadline]);
  clearTimeout(timer);
}
