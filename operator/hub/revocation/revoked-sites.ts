/**
 * The hub's record of revoked Site incarnations: every Site revoked or deleted, by uid, kept in the
 * ConfigMap flotilla-revoked-sites of the operator's namespace for as long as a certificate issued
 * to it could still be valid. A Site made again under a revoked name has a new uid and is not in
 * it; the certificates of the earlier one stay refused everywhere (docs/security.md). Each job's
 * aggregator gets the list signed by that job's CA (pki/revocation-list.ts).
 */
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import { isAlreadyExists, isConflict, isNotFound, kubeRequest } from '../../kube/request.js';
import type { RevokedSite } from '../../pki/revocation-list.js';
import type { RevocationSource } from '../contracts.js';
import type { HubPki, JobRef, SiteRef } from '../pki.js';

export const REVOKED_SITES_CONFIGMAP = 'flotilla-revoked-sites';
const KEY = 'sites.json';
/** Past the longest certificate a Site can hold (a site agent's: 30 days), its entry may go. */
export const DEFAULT_KEEP_MS = 31 * 86_400_000;
const ATTEMPTS = 5;

export interface RevokedSitesOptions {
  kc: KubeConfig;
  /** The operator's namespace. */
  namespace: string;
  pki: HubPki;
  keepMs?: number;
}

export class RevokedSites implements RevocationSource {
  private sites: RevokedSite[] = [];
  /** Moves whenever the list changes: what each job's signed copy was made from. */
  private version = 0;
  private readonly signed = new Map<string, { version: number; text: Promise<string> }>();
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly o: RevokedSitesOptions) {}

  static async load(options: RevokedSitesOptions): Promise<RevokedSites> {
    const store = new RevokedSites(options);
    store.set(sitesOf(await store.read()));
    return store;
  }

  list(): RevokedSite[] {
    return this.sites.map((s) => ({ ...s }));
  }

  get currentVersion(): number {
    return this.version;
  }

  has(uid: string): boolean {
    return this.sites.some((s) => s.uid === uid);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a Site incarnation as revoked (once; the first time seen stays), dropping entries past keeping. */
  async record(site: SiteRef, now = new Date()): Promise<void> {
    if (this.has(site.uid)) return;
    for (let attempt = 1; ; attempt++) {
      const current = await this.read();
      const kept = sitesOf(current).filter((s) => now.getTime() - Date.parse(s.revokedAt) < (this.o.keepMs ?? DEFAULT_KEEP_MS));
      const sites = kept.some((s) => s.uid === site.uid) ? kept : [...kept, { name: site.name, uid: site.uid, revokedAt: now.toISOString() }];
      try {
        await this.write(current, sites);
        this.set(sites);
        return;
      } catch (err) {
        // Another writer (a replica that led a moment ago) got there first: read again.
        if (attempt >= ATTEMPTS || !(isConflict(err) || isAlreadyExists(err))) throw err;
      }
    }
  }

  /** The list signed for the job's aggregator, made once per job and version of the list. */
  signedFor(job: JobRef): Promise<string> {
    const cached = this.signed.get(job.uid);
    if (cached?.version === this.version) return cached.text;
    const text = this.o.pki.signRevocations(job, this.sites);
    text.catch(() => this.signed.delete(job.uid));
    this.signed.set(job.uid, { version: this.version, text });
    return text;
  }

  private set(sites: RevokedSite[]): void {
    if (JSON.stringify(sites) === JSON.stringify(this.sites)) return;
    this.sites = sites;
    this.version++;
    this.signed.clear();
    for (const listener of this.listeners) listener();
  }

  private path(name = ''): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/configmaps${name ? `/${name}` : ''}`;
  }

  private async read(): Promise<V1ConfigMap | undefined> {
    try {
      return await kubeRequest<V1ConfigMap>(this.o.kc, { method: 'GET', path: this.path(REVOKED_SITES_CONFIGMAP) });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Replaces the list, only if the ConfigMap is still as read (409 otherwise). */
  private async write(current: V1ConfigMap | undefined, sites: RevokedSite[]): Promise<void> {
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: REVOKED_SITES_CONFIGMAP,
        namespace: this.o.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'flotilla-operator', 'app.kubernetes.io/component': 'revocation' },
        ...(current ? { resourceVersion: current.metadata!.resourceVersion! } : {}),
      },
      data: { [KEY]: JSON.stringify(sites) },
    };
    if (current) await kubeRequest(this.o.kc, { method: 'PUT', path: this.path(REVOKED_SITES_CONFIGMAP), body });
    else await kubeRequest(this.o.kc, { method: 'POST', path: this.path(), body });
  }
}

function sitesOf(configMap: V1ConfigMap | undefined): RevokedSite[] {
  const text = configMap?.data?.[KEY];
  if (!text) return [];
  const parsed = JSON.parse(text) as RevokedSite[];
  return Array.isArray(parsed) ? parsed.filter((s) => typeof s?.uid === 'string' && typeof s.name === 'string' && typeof s.revokedAt === 'string') : [];
}
