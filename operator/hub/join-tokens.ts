/**
 * Join tokens: how a hospital's site agent proves, once, that the hub's operator invited it.
 *
 * A token is "<id>.<secret>". The hub keeps a Secret `flotilla-join-<id>` holding the SHA-256 of
 * the secret (never the secret itself), the site, the uid of the Site it was issued for (a token of
 * a Site since deleted cannot enrol one made again under its name) and the expiry. Consuming a token deletes that
 * Secret with a precondition on its uid and resourceVersion, so of two enrolments racing with one
 * token exactly one succeeds.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { SITE_LABEL } from '../api/vocabulary.js';
import { isConflict, isNotFound, kubeRequest } from '../kube/request.js';
import { encodeJoinBundle } from '../sitelink/join-bundle.js';
import { MANAGED_BY } from './manifests/names.js';
import type { SiteRef } from './pki.js';

const SECRET_PREFIX = 'flotilla-join-';
const SECRET_TYPE = 'flotilla.dev/join-token';
const TOKEN = /^([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

export interface IssuedJoinToken {
  /** base64 of the JSON JoinBundle. */
  bundle: string;
  token: string;
  expiresAt: Date;
}

/** A token that cannot be used; the message says why, for the person at the hospital. */
export class JoinTokenRefused extends Error {
  override name = 'JoinTokenRefused';
}

export interface JoinTokensOptions {
  kc: KubeConfig;
  /** The operator's namespace, where the token Secrets are. */
  namespace: string;
  gatewayAddress: string;
  enrollmentAddress: string;
  /** The site CA's certificate: what the agent pins for both gateway ports. */
  caPem: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export class JoinTokens {
  constructor(private readonly options: JoinTokensOptions) {}

  /** The addresses the bundles this issues name. */
  get addresses(): { hub: string; enrollment: string } {
    return { hub: this.options.gatewayAddress, enrollment: this.options.enrollmentAddress };
  }

  /**
   * A new token for this incarnation of `site`, valid for ttlSeconds. It replaces any token the
   * site still had outstanding, and expired tokens of every site are removed on the way.
   */
  async issue({ name: site, uid: siteUid }: SiteRef, ttlSeconds: number): Promise<IssuedJoinToken> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error(`ttlSeconds must be a positive integer, got ${ttlSeconds}`);
    const { kc, namespace } = this.options;
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    await this.removeStale(site);
    await kubeRequest(kc, {
      method: 'POST',
      path: this.path(),
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: SECRET_TYPE,
        metadata: {
          name: SECRET_PREFIX + id,
          namespace,
          labels: { [SITE_LABEL]: site, 'app.kubernetes.io/managed-by': MANAGED_BY },
        },
        stringData: { site, siteUid, secretSha256: sha256(secret).toString('hex'), expiresAt: expiresAt.toISOString() },
      },
    });
    const token = `${id}.${secret}`;
    const { gatewayAddress: hub, enrollmentAddress: enrollment, caPem } = this.options;
    return { bundle: encodeJoinBundle({ hub, enrollment, site, token, caPem }), token, expiresAt };
  }

  /**
   * Checks a token and spends it. Resolves to the Site it was issued for; throws JoinTokenRefused,
   * whose message says why (for the hub's log: callers are told less, see the gateway).
   * beforeSpend runs once the token is known good and before it is spent: if it throws (say, the
   * agent's CSR is bad), the token stays usable. Whatever it produced must be used only if consume
   * resolves, since another enrolment may spend the token first.
   */
  async consume(token: string, beforeSpend?: (site: SiteRef) => Promise<void>): Promise<SiteRef> {
    const match = TOKEN.exec(token);
    if (!match) throw new JoinTokenRefused('the join token is malformed: expected "<id>.<secret>" as the hub issued it');
    const [, id, secret] = match as unknown as [string, string, string];
    let stored: V1Secret;
    try {
      stored = await kubeRequest<V1Secret>(this.options.kc, { method: 'GET', path: this.path(SECRET_PREFIX + id) });
    } catch (err) {
      if (isNotFound(err)) throw new JoinTokenRefused(`join token ${id} is unknown or was already used: ask the hub for a new one`);
      throw err;
    }
    const field = (key: string) => Buffer.from(stored.data?.[key] ?? '', 'base64').toString('utf8');
    const expected = Buffer.from(field('secretSha256'), 'hex');
    const site = field('site');
    const siteUid = field('siteUid');
    const expiresAt = new Date(field('expiresAt'));
    if (stored.type !== SECRET_TYPE || expected.length !== 32 || !site || !siteUid || Number.isNaN(expiresAt.getTime())) {
      throw new JoinTokenRefused(`join token ${id} is not stored as the hub stores tokens: ask the hub for a new one`);
    }
    if (!timingSafeEqual(sha256(secret), expected)) {
      throw new JoinTokenRefused(`join token ${id} has the wrong secret: copy the join bundle again, whole`);
    }
    if (expiresAt.getTime() <= Date.now()) {
      await this.delete(stored).catch(() => undefined);
      throw new JoinTokenRefused(`join token ${id} expired at ${expiresAt.toISOString()}: ask the hub for a new one`);
    }
    await beforeSpend?.({ name: site, uid: siteUid });
    if (!(await this.delete(stored))) {
      throw new JoinTokenRefused(`join token ${id} was already used: ask the hub for a new one`);
    }
    return { name: site, uid: siteUid };
  }

  /** Deletes a token Secret only if it is still the one read; false if someone got there first. */
  private async delete(secret: V1Secret): Promise<boolean> {
    const { uid, resourceVersion, name } = secret.metadata!;
    try {
      await kubeRequest(this.options.kc, {
        method: 'DELETE',
        path: this.path(name),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid, resourceVersion } },
      });
      return true;
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return false;
      throw err;
    }
  }

  private async removeStale(site: string): Promise<void> {
    const list = await kubeRequest<{ items: V1Secret[] }>(this.options.kc, {
      method: 'GET',
      path: this.path(),
      query: { labelSelector: SITE_LABEL, fieldSelector: `type=${SECRET_TYPE}` },
    });
    const now = Date.now();
    const stale = list.items.filter((s) => {
      const expiresAt = Date.parse(Buffer.from(s.data?.expiresAt ?? '', 'base64').toString('utf8'));
      return s.metadata?.labels?.[SITE_LABEL] === site || !(expiresAt > now);
    });
    await Promise.all(stale.map((s) => this.delete(s)));
  }

  private path(name?: string): string {
    const collection = `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/secrets`;
    return name ? `${collection}/${encodeURIComponent(name)}` : collection;
  }
}
