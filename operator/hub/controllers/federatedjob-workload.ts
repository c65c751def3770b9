/**
 * FederatedJob workload: makes the job's objects at the hub exist as they should (the spec
 * ConfigMap, the checkpoint claim, the aggregator's Service, certificate Secret and Deployment),
 * holds the job with a finalizer, removes the aggregator when a finished job's cleanupPolicy says
 * so, and on deletion waits for the sites before removing everything and releasing the job.
 * Status is the status controller's (federatedjob-status.ts); this one only reads it, and records
 * what the API server refused, and which objects of the job's names are someone else's
 * (owned-objects.ts: never applied over, never deleted), for that one to report.
 */
import { X509Certificate } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { FederatedJob } from '../../api/federatedjob.js';
import { EventReason, isFinal } from '../../api/vocabulary.js';
import { addFinalizer, apply, hasFinalizer, removeFinalizer } from '../../kube/apply.js';
import type { EventRecorder } from '../../kube/events.js';
import { refusalIn, refusedAs } from '../../kube/refusal.js';
import { isAlreadyExists, isConflict, isNotFound, kubeRequest } from '../../kube/request.js';
import { objectPath, refOf, type KubernetesObject, type ObjectRef } from '../../kube/resources.js';
import type { ReconcileResult } from '../../kube/workqueue.js';
import type { Logger } from '../../log.js';
import type { RevocationSource, SiteSessions } from '../contracts.js';
import { aggregatorDeployment, CERTIFICATE_ANNOTATION } from '../manifests/aggregator-deployment.js';
import { aggregatorService } from '../manifests/aggregator-service.js';
import { aggregatorTlsSecret } from '../manifests/aggregator-tls.js';
import { checkpointClaim } from '../manifests/checkpoint-claim.js';
import { specConfigMap } from '../manifests/job-manifest.js';
import { FIELD_MANAGER, jobNameProblem, jobObjectNames } from '../manifests/names.js';
import type { HubPki, JobRef } from '../pki.js';
import { aggregatorEndpoint, certificateNames } from './aggregator-endpoint.js';
import { AppliedObjects } from './applied-objects.js';
import type { HubCaches } from './hub-caches.js';
import { cleanupDeadline, sitesHoldingJob } from './job-cleanup.js';
import { claimName, deleteIfOwned, ObjectConflict } from './owned-objects.js';
import { resolvedJob, selectedSites, selectionProblem } from './job-sites.js';
import type { WorkloadRefusals } from './workload-refusals.js';

export const FINALIZER = 'flotilla.dev/cleanup';

export interface WorkloadOptions {
  kc: k8s.KubeConfig;
  caches: HubCaches;
  sessions: SiteSessions;
  pki: HubPki;
  /** The revoked sites, signed for a job's aggregator: written beside its manifest. */
  revocations: RevocationSource;
  events: EventRecorder;
  /** Where refusals are recorded for the status controller. */
  refusals: WorkloadRefusals;
  log: Logger;
  /** The operator's image: the aggregator's unless the job names one. */
  image: string;
  serviceType: 'ClusterIP' | 'LoadBalancer';
  endpointTemplate?: string;
  /** How long a deleted job waits for its sites to remove its clients (a disconnected site: since it was last heard). */
  disconnectedSiteGraceMs: number;
}

/** A certificate is renewed when less than this share of its life is left. */
const RENEW_REMAINING = 1 / 3;
const WAIT_FOR_SITES_MS = 5_000;
const HOUR_MS = 3_600_000;
const CACHE_CATCH_UP_MS = 250;
/** The kinds of the job's objects that the operator's caches hold. */
const CACHED_KINDS = new Set(['Deployment', 'Service']);

export class FederatedJobWorkload {
  /**
   * Certificates this process issued, by job uid: the Deployment cache may not show one just
   * written yet, and issuing again for that would restart the aggregator for nothing.
   */
  private readonly issued = new Map<string, string>();
  /** What this process applied, so that an unchanged object is not sent again. */
  private readonly applied = new AppliedObjects();
  /** When this term of leadership began (a second early: creation times are in whole seconds). */
  private readonly termStart = Date.now() - 1_000;

  constructor(private readonly o: WorkloadOptions) {}

  /** A cached object of the job's was deleted: it is applied again on the pass its deletion wakes, cache lag or not. */
  deleted(obj: KubernetesObject): void {
    this.applied.forget(obj);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const job = this.o.caches.jobs.get(key);
    if (!job) return this.o.refusals.clear(key);
    if (job.metadata.deletionTimestamp) return this.finalize(job);
    if (!hasFinalizer(job, FINALIZER) && (await staleCache(addFinalizer(this.o.kc, job, FINALIZER, { fieldManager: FIELD_MANAGER })))) {
      return { requeueAfterMs: CACHE_CATCH_UP_MS };
    }
    const result = await this.make(key, job);
    // A pass that got here made, or rightly skipped, everything: nothing stands refused.
    this.o.refusals.clear(key);
    return result;
  }

  private async make(key: string, job: FederatedJob): Promise<ReconcileResult> {
    // The status controller fails such a job; there is nothing to make for it.
    if (jobNameProblem(job.metadata.name)) return;
    if (isFinal(job.status?.phase)) return this.finished(job);

    const sites = selectedSites(job, this.o.caches.sites.list());
    if (!job.spec.sites.names && selectionProblem(job, sites)) return;
    const resolved = resolvedJob(job, sites);
    const names = jobObjectNames(job.metadata.name);
    const ns = job.metadata.namespace!;

    await this.put(key, job, specConfigMap(resolved, await this.o.revocations.signedFor(jobRefOf(job))));
    await this.put(key, job, checkpointClaim(job));
    await this.put(key, job, aggregatorService(job, this.o.serviceType));
    const endpoint = aggregatorEndpoint(job, this.o.caches.services.get(`${ns}/${names.aggregator}`), this.o.endpointTemplate);
    // A load balancer without an address yet: the Service's update brings the job back.
    if (!endpoint) return;

    const { certificatePem, renewAt } = await this.certificate(key, job, endpoint);
    const firstTime = !this.o.caches.deployments.get(`${ns}/${names.aggregator}`);
    await this.put(key, job, aggregatorDeployment(resolved, { defaultImage: this.o.image, certificatePem }));
    if (firstTime) {
      void this.o.events.event(job, 'Normal', EventReason.Created, `made the aggregator ${names.aggregator} with its Service, certificate, spec and checkpoint claim`);
    }
    // Back to renew the certificate in time; at least hourly (a timer cannot wait 60 days).
    return { requeueAfterMs: Math.min(Math.max(renewAt - Date.now(), 1_000), HOUR_MS) };
  }

  /**
   * Applies one of the job's objects, unless an object of its name is someone else's: that is a
   * conflict, recorded for the status controller and retried with backoff (the other object is not
   * watched). A refusal is recorded too and thrown: as a TerminalError when the object is invalid as
   * the job makes it (a change of the job brings it back), else to be retried with backoff (a quota
   * or a policy may be lifted; they are not watched).
   */
  private async put(key: string, job: FederatedJob, obj: KubernetesObject): Promise<void> {
    const ref = refOf(obj);
    const cached: [KubernetesObject | undefined] | [] = CACHED_KINDS.has(ref.kind) ? [this.cached(ref)] : [];
    if (this.applied.unchanged(obj, ...cached)) return;
    if (await this.created(key, job, obj)) return;
    await this.claim(key, job, ref);
    try {
      await this.refused(key, job, ref, () => apply(this.o.kc, obj, { fieldManager: FIELD_MANAGER }));
      this.applied.record(obj);
    } catch (err) {
      this.applied.forget(obj);
      throw err;
    }
  }

  /**
   * A new job's ConfigMap and claim are created rather than asked about and applied: a create that
   * succeeds shows the name was free, in one write where the ownership patch and the apply were two
   * (the operator may not read those kinds, so it asks by a patch, which counts as a write). Only
   * for a job created during this term and an object this process has not written: an older job's
   * objects most likely exist (an earlier leader made them) and the create would be a third
   * request. False when it exists: claim and apply then. The create's fields are the manager's as
   * an update; the forced applies that follow take over each field they send, and these objects
   * never drop a field.
   */
  private async created(key: string, job: FederatedJob, obj: KubernetesObject): Promise<boolean> {
    const ref = refOf(obj);
    const createdAt = Date.parse(String(job.metadata.creationTimestamp ?? ''));
    if (CACHED_KINDS.has(ref.kind) || !(createdAt >= this.termStart) || this.applied.has(obj)) return false;
    const path = await objectPath(this.o.kc, ref);
    const collection = path.slice(0, path.lastIndexOf('/'));
    try {
      await this.refused(key, job, ref, () => kubeRequest(this.o.kc, { method: 'POST', path: collection, query: { fieldManager: FIELD_MANAGER }, body: obj }));
    } catch (err) {
      if (isAlreadyExists(err)) return false;
      throw err;
    }
    this.applied.record(obj);
    return true;
  }

  /** Throws ObjectConflict, recorded for the status controller, when the name is someone else's. */
  private async claim(key: string, job: FederatedJob, ref: ObjectRef): Promise<void> {
    try {
      await claimName(this.o.kc, job, ref, this.cached(ref));
    } catch (err) {
      if (err instanceof ObjectConflict) this.o.refusals.setConflict(key, job.metadata.uid!, err.message);
      throw err;
    }
  }

  /** What the operator's caches hold of an object (they hold only the operator's Deployments, Services and Secrets). */
  private cached(ref: ObjectRef): KubernetesObject | undefined {
    const key = `${ref.namespace}/${ref.name}`;
    if (ref.kind === 'Deployment') return this.o.caches.deployments.get(key);
    if (ref.kind === 'Service') return this.o.caches.services.get(key);
    if (ref.kind === 'Secret') return this.o.caches.secrets.get(key);
    return undefined;
  }

  private async refused<T>(key: string, job: FederatedJob, ref: ObjectRef, write: () => Promise<T>): Promise<T> {
    try {
      return await refusedAs(ref, write);
    } catch (err) {
      const refusal = refusalIn(err);
      if (refusal) this.o.refusals.set(key, job.metadata.uid!, refusal);
      throw err;
    }
  }

  /**
   * The aggregator's certificate: the one its Deployment names while it names the endpoint and has
   * a third of its life left; else a new one, issued by the job's CA, with its key in a new Secret.
   */
  private async certificate(key: string, job: FederatedJob, endpoint: string): Promise<{ certificatePem: string; renewAt: number }> {
    const names = certificateNames(job, endpoint);
    const deployment = this.o.caches.deployments.get(`${job.metadata.namespace}/${jobObjectNames(job.metadata.name).aggregator}`);
    const owned = deployment?.metadata?.ownerReferences?.some((r) => r.uid === job.metadata.uid);
    const named = owned ? deployment?.spec?.template.metadata?.annotations?.[CERTIFICATE_ANNOTATION] : undefined;
    const current = newest(named, this.issued.get(job.metadata.uid!));
    const renewAt = current && renewalTime(current);
    if (current && renewAt && renewAt > Date.now() && covers(current, names)) return { certificatePem: current, renewAt };

    const issued = await this.o.pki.issueAggregatorCertificate(jobRefOf(job), names.dnsNames, names.ipAddresses);
    const secret = aggregatorTlsSecret(job, { caPem: issued.caPem, certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem });
    const path = `/api/v1/namespaces/${encodeURIComponent(job.metadata.namespace!)}/secrets`;
    await this.refused(key, job, refOf(secret), () =>
      kubeRequest(this.o.kc, { method: 'POST', path, query: { fieldManager: FIELD_MANAGER }, body: secret }).catch((err: unknown) => {
        // Named after the certificate: one of that name is this one.
        if (!isAlreadyExists(err)) throw err;
      }),
    );
    this.issued.set(job.metadata.uid!, issued.certificatePem);
    this.o.log.info('issued the aggregator certificate', { job: job.metadata.name, namespace: job.metadata.namespace, ...names, notAfter: issued.notAfter });
    return { certificatePem: issued.certificatePem, renewAt: renewalTime(issued.certificatePem)! };
  }

  /** A finished job keeps its claim (result and model) and, with cleanupPolicy Delete, loses its aggregator. */
  private async finished(job: FederatedJob): Promise<ReconcileResult> {
    if (job.spec.completion.cleanupPolicy !== 'Delete') return;
    const ns = job.metadata.namespace!;
    const { aggregator } = jobObjectNames(job.metadata.name);
    await deleteIfOwned(this.o.kc, job, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: aggregator });
    await deleteIfOwned(this.o.kc, job, { apiVersion: 'v1', kind: 'Service', namespace: ns, name: aggregator });
    this.applied.forgetNames(ns, [aggregator]);
  }

  /** Deletion: wait for the sites to report the job's clients gone, remove what the job made, release it. */
  private async finalize(job: FederatedJob): Promise<ReconcileResult> {
    if (!hasFinalizer(job, FINALIZER)) return;
    const { namespace, name, uid } = job.metadata;
    // The sites the job selected, now or when it ran (its status lists them): never a site that only reports it.
    const selected = [...new Set([...selectedSites(job, this.o.caches.sites.list()), ...(job.status?.sites ?? []).map((s) => s.name)])];
    const now = new Date();
    const held = sitesHoldingJob(job, selected, this.o.caches.sites, this.o.sessions, now, this.o.disconnectedSiteGraceMs);
    if (held.length > 0) {
      this.o.log.info('deletion waits for sites', { job: name, namespace, sites: held });
      const deadline = cleanupDeadline(job, this.o.disconnectedSiteGraceMs);
      return { requeueAfterMs: Math.max(Math.min(WAIT_FOR_SITES_MS, deadline - now.getTime()), 100) };
    }
    const reporting = selected.filter((site) => {
      const report = this.o.sessions.reportOf(site, `${namespace}/${name}`);
      return report !== undefined && report.jobUid === uid && report.phase !== 'Refused';
    });
    if (reporting.length > 0) this.o.log.warn('released after the cleanup grace; sites still report the client', { job: name, namespace, sites: reporting });
    for (const ref of ownedObjects(job)) await deleteIfOwned(this.o.kc, job, ref);
    this.applied.forgetNames(namespace!, Object.values(jobObjectNames(name)));
    await this.o.pki.deleteJobCa(jobRefOf(job));
    if (await staleCache(removeFinalizer(this.o.kc, job, FINALIZER, { fieldManager: FIELD_MANAGER }))) return { requeueAfterMs: CACHE_CATCH_UP_MS };
    this.issued.delete(uid!);
    this.o.refusals.clear(`${namespace}/${name}`);
  }
}

/**
 * Everything the job made at the hub that the operator removes itself, most dependent first, each
 * only if the job owns it. Its aggregator's TLS Secrets go with the job by their owner reference
 * (the operator may only create Secrets in the job's namespace), its CA with deleteJobCa.
 */
export function ownedObjects(job: FederatedJob): ObjectRef[] {
  const namespace = job.metadata.namespace!;
  const names = jobObjectNames(job.metadata.name);
  return [
    { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: names.aggregator },
    { apiVersion: 'v1', kind: 'Service', namespace, name: names.aggregator },
    { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: names.spec },
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name: names.checkpoints },
  ];
}

/**
 * A finalizer patch carries the resourceVersion read from the cache, which a status write may have
 * moved since (409), or the job may be gone already (404): not failures, the cache is behind. True
 * when the change should be tried again once it has caught up.
 */
async function staleCache(change: Promise<unknown>): Promise<boolean> {
  try {
    await change;
    return false;
  } catch (err) {
    if (isConflict(err) || isNotFound(err)) return true;
    throw err;
  }
}

function jobRefOf(job: FederatedJob): JobRef {
  return { namespace: job.metadata.namespace!, name: job.metadata.name, uid: job.metadata.uid! };
}

/**
 * The parsed certificates the workload looked at, by PEM: each pass over a job reads its
 * aggregator's certificate's validity and names, and parsing it anew each time was the operator's
 * largest cost at a thousand jobs. A PEM is its certificate, so an entry never goes stale; the
 * oldest go once there are more than MAX_PARSED.
 */
const parsed = new Map<string, X509Certificate>();
const MAX_PARSED = 4096;

function certificateOf(certificatePem: string): X509Certificate {
  let cert = parsed.get(certificatePem);
  if (!cert) {
    cert = new X509Certificate(certificatePem);
    if (parsed.size >= MAX_PARSED) parsed.delete(parsed.keys().next().value!);
    parsed.set(certificatePem, cert);
  }
  return cert;
}

function newest(a: string | undefined, b: string | undefined): string | undefined {
  if (!a || !b) return a ?? b;
  const issuedAt = (certificatePem: string) => Date.parse(certificateOf(certificatePem).validFrom);
  return issuedAt(b) > issuedAt(a) ? b : a;
}

function renewalTime(certificatePem: string): number | undefined {
  try {
    const cert = certificateOf(certificatePem);
    const [from, to] = [Date.parse(cert.validFrom), Date.parse(cert.validTo)];
    return to - (to - from) * RENEW_REMAINING;
  } catch {
    return undefined;
  }
}

function covers(certificatePem: string, names: { dnsNames: string[]; ipAddresses: string[] }): boolean {
  const cert = certificateOf(certificatePem);
  return names.dnsNames.every((n) => cert.checkHost(n, { wildcards: false }) !== undefined) && names.ipAddresses.every((ip) => cert.checkIP(ip) !== undefined);
}
