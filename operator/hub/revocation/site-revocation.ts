/**
 * Site revocation, bound to the Site's uid: a Site that is revoked, or deleted, has its uid
 * recorded (revoked-sites.ts) before it may go. A finalizer holds a deleted Site until then, so an
 * operator that was down when it was deleted still records it; then the Site goes, and one made
 * again under its name starts with a new uid that none of the old certificates name.
 */
import type * as k8s from '@kubernetes/client-node';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../kube/apply.js';
import { isConflict, isNotFound } from '../../kube/request.js';
import type { ReconcileResult } from '../../kube/workqueue.js';
import type { HubAuditLog } from '../audit.js';
import type { CacheView, Site } from '../contracts.js';
import { MANAGED_BY } from '../manifests/names.js';
import type { RevokedSites } from './revoked-sites.js';

export const SITE_FINALIZER = 'flotilla.dev/revocation';
const CACHE_CATCH_UP_MS = 250;

export interface SiteRevocationOptions {
  kc: k8s.KubeConfig;
  sites: CacheView<Site>;
  revoked: RevokedSites;
  /** A revocation is recorded there before the revoked list says so. */
  audit: HubAuditLog;
}

export class SiteRevocationController {
  constructor(private readonly o: SiteRevocationOptions) {}

  async reconcile(name: string): Promise<ReconcileResult> {
    const site = this.o.sites.get(name);
    if (!site?.metadata.uid) return;
    const gone = Boolean(site.metadata.deletionTimestamp);
    if (site.spec.revoked || gone) {
      const ref = { name, uid: site.metadata.uid };
      if (!this.o.revoked.has(ref.uid)) await this.o.audit.siteRevoked(ref, site.spec.revoked ? 'revoked' : 'deleted');
      await this.o.revoked.record(ref);
    }
    try {
      if (gone) await removeFinalizer(this.o.kc, site, SITE_FINALIZER, { fieldManager: MANAGED_BY });
      else if (!hasFinalizer(site, SITE_FINALIZER)) await addFinalizer(this.o.kc, site, SITE_FINALIZER, { fieldManager: MANAGED_BY });
    } catch (err) {
      // The cache is behind a write (409) or the Site is gone already (404): look again once it caught up.
      if (isConflict(err) || isNotFound(err)) return { requeueAfterMs: CACHE_CATCH_UP_MS };
      throw err;
    }
    return undefined;
  }
}
