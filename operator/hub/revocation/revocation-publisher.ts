/**
 * Sends each running aggregator the revoked sites, signed by its job's CA, to its metrics port
 * (PUT /revocations): at once when the list changes or a new aggregator pod runs, and again every
 * REFRESH_MS (a restarted container starts from the list mounted at its pod's start). The
 * aggregator keeps what it was sent and refuses those sites' certificates from then on, its calls in
 * flight included. The port is plain HTTP; the signature is what the aggregator trusts.
 */
import { request } from 'node:http';
import type { ReconcileResult } from '../../kube/workqueue.js';
import type { Logger } from '../../log.js';
import { isFinal } from '../../api/vocabulary.js';
import { aggregatorPods, type HubCaches } from '../controllers/hub-caches.js';
import { METRICS_PORT } from '../manifests/names.js';
import type { RevokedSites } from './revoked-sites.js';

export const REFRESH_MS = 15_000;
const TIMEOUT_MS = 2_000;

export interface RevocationPublisherOptions {
  caches: HubCaches;
  revoked: RevokedSites;
  log: Logger;
  /** PUTs the signed list to host:port/revocations; rejects on any failure. */
  send?: (hostPort: string, signed: string) => Promise<void>;
}

export class RevocationPublisher {
  /** What each aggregator pod (by uid) acknowledged: the list's version, and when. */
  private readonly sent = new Map<string, { version: number; at: number }>();

  constructor(private readonly o: RevocationPublisherOptions) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const job = this.o.caches.jobs.get(key);
    if (!job || job.metadata.deletionTimestamp || isFinal(job.status?.phase)) return;
    const pod = aggregatorPods(this.o.caches.pods, job).find((p) => p.status?.phase === 'Running' && p.status.podIP && p.metadata?.uid);
    if (!pod) return;
    const podUid = pod.metadata!.uid!;
    const version = this.o.revoked.currentVersion;
    const last = this.sent.get(podUid);
    const now = Date.now();
    if (last?.version === version && now - last.at < REFRESH_MS) return { requeueAfterMs: REFRESH_MS - (now - last.at) };
    const signed = await this.o.revoked.signedFor({ namespace: job.metadata.namespace!, name: job.metadata.name, uid: job.metadata.uid! });
    const hostPort = `${pod.status!.podIP}:${METRICS_PORT}`;
    await (this.o.send ?? sendRevocations)(hostPort, signed);
    if (last?.version !== version) this.o.log.info('sent the revoked sites to the aggregator', { job: job.metadata.name, namespace: job.metadata.namespace, sites: this.o.revoked.list().length });
    this.sent.set(podUid, { version, at: now });
    // Forget pods long gone.
    for (const [uid, entry] of this.sent) if (now - entry.at > 4 * REFRESH_MS) this.sent.delete(uid);
    return { requeueAfterMs: REFRESH_MS };
  }
}

export function sendRevocations(hostPort: string, signed: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${hostPort}/revocations`, { method: 'PUT', timeout: TIMEOUT_MS, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${hostPort}/revocations: HTTP ${res.statusCode} ${text.slice(0, 200)}`))));
    });
    req.once('timeout', () => req.destroy(new Error(`PUT ${hostPort}/revocations: no answer within ${TIMEOUT_MS} ms`)));
    req.once('error', reject);
    req.end(signed);
  });
}
