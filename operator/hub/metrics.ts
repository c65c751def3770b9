/**
 * The operator's own Prometheus metrics (the controllers add flotilla_reconcile_* and
 * flotilla_workqueue_*, operator/kube/reconcile-metrics.ts). What describes the cluster's objects
 * (jobs, sites, certificates) is read from the informer caches at each scrape and reported by the
 * leader only, so that a standby's scrape does not count every job twice; the process's own
 * figures (leadership, reconciles, queues) come from every replica. docs/metrics.md lists them.
 */
import { Gauge, Registry } from 'prom-client';
import { collectProcessMetrics } from '../process/process-metrics.js';
import { ConditionType, JOB_PHASES } from '../api/vocabulary.js';
import { CertificateExpiries } from './certificate-expiries.js';
import type { Site } from './contracts.js';
import type { HubCaches } from './controllers/hub-caches.js';

export interface OperatorMetricsSource {
  caches: HubCaches;
  /** The operator's namespace, where the hub's root CA Secret is. */
  namespace: string;
  /** Whether this replica leads now. */
  leading(): boolean;
}

export function operatorMetrics(source: OperatorMetricsSource): Registry {
  const { caches, leading } = source;
  const registry = new Registry();
  collectProcessMetrics(registry, 'flotilla_operator_');
  const registers = [registry];
  new Gauge({
    name: 'flotilla_operator_leader',
    help: 'Whether this replica holds the leader Lease and runs the controllers (1) or stands by (0).',
    registers,
    collect() {
      this.set(leading() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'flotilla_federatedjob_phase',
    help: 'The phase of each FederatedJob, as the operator last wrote it: 1 for its phase, 0 for the others.',
    labelNames: ['namespace', 'federatedjob', 'phase'],
    registers,
    collect() {
      this.reset();
      if (!leading()) return;
      for (const job of caches.jobs.list()) {
        const current = job.status?.phase ?? 'Pending';
        for (const phase of JOB_PHASES) this.set({ namespace: job.metadata.namespace, federatedjob: job.metadata.name, phase }, phase === current ? 1 : 0);
      }
    },
  });
  const siteState = (name: string, help: string, of: (site: Site) => boolean) =>
    new Gauge({
      name,
      help,
      labelNames: ['site'],
      registers,
      collect() {
        this.reset();
        if (!leading()) return;
        for (const site of caches.sites.list()) this.set({ site: site.metadata.name }, of(site) ? 1 : 0);
      },
    });
  siteState('flotilla_site_connected', "Whether the Site's agent holds its stream to the hub (its Connected condition).", (site) =>
    (site.status?.conditions ?? []).some((c) => c.type === ConditionType.Connected && c.status === 'True'),
  );
  siteState('flotilla_site_cordoned', 'Whether the Site is cordoned (spec.cordoned): it gets no new assignments.', (site) => site.spec.cordoned === true);
  siteState('flotilla_site_revoked', 'Whether the Site is revoked (spec.revoked): its certificates are refused.', (site) => site.spec.revoked === true);
  const certificates = new CertificateExpiries(source.namespace);
  new Gauge({
    name: 'flotilla_certificate_expiry_timestamp_seconds',
    help: "When a certificate the hub issued expires (notAfter): the hub's root CA, each job's CA, each aggregator's, each site agent's.",
    labelNames: ['certificate', 'namespace', 'federatedjob', 'site'],
    registers,
    collect() {
      this.reset();
      if (!leading()) return;
      for (const { labels, notAfter } of certificates.list(caches.secrets.list(), caches.sites.list())) this.set(labels, notAfter / 1000);
    },
  });
  return registry;
}
