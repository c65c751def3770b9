/**
 * The join bundle of a Site not yet enrolled: a Secret `flotilla-join-bundle-<site>` in the
 * operator's namespace, owned by the Site, holding the bundle the hospital is handed out of band
 * (`kubectl get secret flotilla-join-bundle-<site> -o jsonpath='{.data.bundle}' | base64 -d`).
 * A new token replaces an expired one, and one naming gateway addresses other than this operator's
 * (the hub's address changed since: a hospital could not dial it). Once the site has enrolled the
 * Secret is removed (its token is spent).
 */
import type * as k8s from '@kubernetes/client-node';
import { SITE_LABEL } from '../../api/vocabulary.js';
import { apply, deleteIfExists } from '../../kube/apply.js';
import type { Site } from '../contracts.js';
import type { JoinTokens } from '../join-tokens.js';
import { FIELD_MANAGER, MANAGED_BY } from '../manifests/names.js';
import type { HubCaches, Secret } from './hub-caches.js';

export const BUNDLE_KEY = 'bundle';
const EXPIRES_AT = 'flotilla.dev/expires-at';
const ADDRESSES = 'flotilla.dev/gateway-addresses';
/** A token this close to its expiry is replaced rather than handed out. */
const REPLACE_BEFORE_MS = 60_000;

export function joinBundleSecretName(site: string): string {
  return `flotilla-join-bundle-${site}`;
}

export interface JoinBundleOptions {
  kc: k8s.KubeConfig;
  caches: HubCaches;
  joinTokens: JoinTokens;
  /** The operator's namespace. */
  namespace: string;
  tokenTtlSeconds: number;
}

export class JoinBundles {
  /**
   * Expiries of the bundles this process issued, by Site uid: the Secret cache may not show a
   * bundle just written yet, and a second token must not replace it for that.
   */
  private readonly issued = new Map<string, number>();

  constructor(private readonly o: JoinBundleOptions) {}

  /** Makes sure a valid bundle is waiting for the site; resolves to its token's expiry. */
  async ensure(site: Site, now: Date): Promise<Date> {
    const o = this.o;
    const name = joinBundleSecretName(site.metadata.name);
    const existing = o.caches.secrets.get(`${o.namespace}/${name}`);
    const addresses = addressesOf(o.joinTokens);
    const current = existing && ownedBy(existing, site) && existing.metadata?.annotations?.[ADDRESSES] === addresses;
    const cached = current ? Date.parse(existing.metadata?.annotations?.[EXPIRES_AT] ?? '') : NaN;
    const expiresAt = Math.max(Number.isFinite(cached) ? cached : 0, this.issued.get(site.metadata.uid!) ?? 0);
    if (expiresAt - now.getTime() > REPLACE_BEFORE_MS) return new Date(expiresAt);

    const issued = await o.joinTokens.issue({ name: site.metadata.name, uid: site.metadata.uid! }, o.tokenTtlSeconds);
    await apply(
      o.kc,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: {
          name,
          namespace: o.namespace,
          labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, 'app.kubernetes.io/component': 'join-bundle', [SITE_LABEL]: site.metadata.name },
          annotations: { [EXPIRES_AT]: issued.expiresAt.toISOString(), [ADDRESSES]: addresses },
          ownerReferences: [
            { apiVersion: site.apiVersion, kind: site.kind, name: site.metadata.name, uid: site.metadata.uid!, controller: true, blockOwnerDeletion: true },
          ],
        },
        data: { [BUNDLE_KEY]: Buffer.from(issued.bundle, 'utf8').toString('base64') },
      },
      { fieldManager: FIELD_MANAGER },
    );
    this.issued.set(site.metadata.uid!, issued.expiresAt.getTime());
    return issued.expiresAt;
  }

  /** The bundle of an enrolled (or revoked) site is of no more use. */
  async remove(site: Site): Promise<void> {
    const o = this.o;
    const name = joinBundleSecretName(site.metadata.name);
    this.issued.delete(site.metadata.uid!);
    if (!o.caches.secrets.get(`${o.namespace}/${name}`)) return;
    await deleteIfExists(o.kc, { apiVersion: 'v1', kind: 'Secret', namespace: o.namespace, name });
  }
}

function addressesOf(joinTokens: JoinTokens): string {
  const { hub, enrollment } = joinTokens.addresses;
  return `${hub},${enrollment}`;
}

function ownedBy(secret: Secret, site: Site): boolean {
  return Boolean(secret.metadata?.ownerReferences?.some((r) => r.uid === site.metadata.uid));
}
