/**
 * Who is calling the gateway, and may they. The site comes from the peer certificate the TLS
 * handshake verified (never from a message), which must have been signed by the site CA itself
 * and name the uid of the Site as it exists now: a certificate of a Site since deleted, or
 * revoked and made again under the same name, is refused. The Site must exist and not be revoked,
 * on every call. A revoked site's refusals, and those of a certificate of an earlier Site, say so
 * in their trailers (sitelink/revocation.ts): that certificate will never be taken again.
 */
import { status, type Metadata, type ServerErrorResponse, type StatusObject } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { IdentityError, siteUidOfPeer } from '../../pki/identity.js';
import { identityIssuedBy } from '../../pki/peer-check.js';
import { revokedTrailers } from '../../sitelink/revocation.js';
import type { CacheView, Site } from '../contracts.js';
import type { SiteRef } from '../pki.js';

/** A refusal with the gRPC status it travels as. */
export class GatewayRefusal extends Error {
  override name = 'GatewayRefusal';
  constructor(
    readonly code: status,
    message: string,
    readonly trailers?: Metadata,
  ) {
    super(message);
  }
}

export function toStatus(err: unknown): Partial<StatusObject> & ServerErrorResponse {
  if (err instanceof GatewayRefusal) {
    return { name: err.name, message: err.message, code: err.code, details: err.message, ...(err.trailers ? { metadata: err.trailers } : {}) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { name: 'Error', message, code: status.INTERNAL, details: `the hub could not complete the call: ${message}` };
}

export interface CallWithPeer {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

export class SiteAdmission {
  /** siteCaPem: the only CA whose site-agent certificates are taken. */
  constructor(
    private readonly sites: CacheView<Site>,
    private readonly siteCaPem: string,
  ) {}

  /** The calling site agent's Site (name and uid), admitted; throws GatewayRefusal. */
  siteOf(call: CallWithPeer): SiteRef {
    const cert = call.getAuthContext()?.sslPeerCertificate;
    let identity;
    let uid;
    try {
      identity = identityIssuedBy(cert, this.siteCaPem, 'the site CA');
      uid = siteUidOfPeer(cert);
    } catch (err) {
      const message = err instanceof IdentityError ? err.message : `the peer certificate cannot be read: ${(err as Error).message}`;
      throw new GatewayRefusal(status.UNAUTHENTICATED, `the peer certificate names no site agent of this hub: ${message}`);
    }
    if (identity.role !== 'site-agent') {
      throw new GatewayRefusal(status.PERMISSION_DENIED, `only site agents may call the site gateway, not a ${identity.role}`);
    }
    if (!uid) throw new GatewayRefusal(status.UNAUTHENTICATED, `the certificate of site ${identity.site} names no Site uid`);
    const site = { name: identity.site, uid };
    const refusal = this.refusal(site);
    if (refusal) throw refusal;
    return site;
  }

  /** The Site's current uid if it may use the gateway; throws GatewayRefusal. */
  admit(site: string): string {
    const resource = this.sites.get(site);
    const refusal = this.refusal({ name: site, uid: resource?.metadata.uid ?? '' });
    if (refusal) throw refusal;
    return resource!.metadata.uid!;
  }

  /** Why this incarnation of the site may not use the gateway now, or undefined if it may. */
  refusal(site: SiteRef): GatewayRefusal | undefined {
    const resource = this.sites.get(site.name);
    if (!resource || resource.metadata.deletionTimestamp || !resource.metadata.uid) {
      return new GatewayRefusal(status.PERMISSION_DENIED, `site ${site.name} is not known to the hub (no Site resource)`);
    }
    if (resource.metadata.uid !== site.uid) {
      const message = `the certificate was issued to an earlier Site ${site.name} (uid ${site.uid}), since deleted; the hospital enrols again with the new Site's join bundle`;
      return new GatewayRefusal(status.PERMISSION_DENIED, message, revokedTrailers());
    }
    if (resource.spec.revoked) {
      return new GatewayRefusal(status.PERMISSION_DENIED, `site ${site.name} is revoked: enrol the hospital again as a new Site`, revokedTrailers());
    }
    return undefined;
  }
}
