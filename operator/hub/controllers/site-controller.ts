/**
 * Site: its status from the agent's session at the gateway (site-status.ts), and, until the agent
 * has enrolled, a join bundle waiting for the hospital (site-join-bundle.ts). Status is written
 * once per pass, only when it changed, and at most once per MIN_WRITE_INTERVAL_MS per site (once per
 * COUNTS_WRITE_INTERVAL_MS when only its job counts moved: site-status.ts): a site whose agent floods
 * the hub with reports or reconnects gets one write a second at most, the latest state.
 */
import { applyStatus } from '../../kube/apply.js';
import { equalStatus } from '../../kube/conditions.js';
import type { ReconcileResult } from '../../kube/workqueue.js';
import type { SiteSessions } from '../contracts.js';
import { FIELD_MANAGER } from '../manifests/names.js';
import { JoinBundles, type JoinBundleOptions } from './site-join-bundle.js';
import { siteStatus, writeDelay } from './site-status.js';

const HOUR_MS = 3_600_000;

export interface SiteControllerOptions extends JoinBundleOptions {
  sessions: SiteSessions;
}

export class SiteController {
  private readonly bundles: JoinBundles;
  /** When each site's status was last written by this process. */
  private readonly written = new Map<string, number>();

  constructor(private readonly o: SiteControllerOptions) {
    this.bundles = new JoinBundles(o);
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const site = this.o.caches.sites.get(name);
    if (!site || site.metadata.deletionTimestamp) return;
    const now = new Date();
    // Only this Site's own agent counts: a session of an earlier Site of the name (cut as soon as
    // the gateway sees the change) neither enrols it nor spends its join bundle.
    const held = this.o.sessions.get(name);
    const session = held?.siteUid === site.metadata.uid ? held : undefined;
    const enrolledNow = this.o.sessions.enrolledAt(name, site.metadata.uid!) !== undefined;
    const enrolled = Boolean(site.status?.enrolled || session || enrolledNow);
    let joinTokenExpiry: Date | undefined;
    if (enrolled || site.spec.revoked) await this.bundles.remove(site);
    else joinTokenExpiry = await this.bundles.ensure(site, now);

    const next = siteStatus({ site, session, now, enrolledNow, ...(joinTokenExpiry ? { joinTokenExpiry } : {}) });
    if (!equalStatus(site.status ?? {}, next)) {
      const wait = writeDelay(site.status ?? {}, next, this.written.get(name), now.getTime());
      if (wait > 0) return { requeueAfterMs: wait };
      this.written.set(name, now.getTime());
      await applyStatus(
        this.o.kc,
        { apiVersion: site.apiVersion, kind: site.kind, metadata: { name }, status: next },
        { fieldManager: FIELD_MANAGER },
      );
    }
    // Come back to replace the token when it expires.
    return joinTokenExpiry ? { requeueAfterMs: Math.min(Math.max(joinTokenExpiry.getTime() - now.getTime(), 1_000), HOUR_MS) } : undefined;
  }
}
