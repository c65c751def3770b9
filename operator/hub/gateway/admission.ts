/**
 * Who is calling the gateway, and may they. The site comes from the peer certificate the TLS
 * handshake verified (never from a message); the Site resource must exist and not be revoked, on
 * every call. A revoked site's refusals say so in their trailers (sitelink/revocation.ts).
 */
import { status, type Metadata, type ServerErrorResponse, type StatusObject } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { identityOfPeer } from '../../pki/identity.js';
import { revokedTrailers } from '../../sitelink/revocation.js';
import type { CacheView, Site } from '../contracts.js';

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
  constructor(private readonly sites: CacheView<Site>) {}

  /** The calling site agent's site, admitted; throws GatewayRefusal. */
  siteOf(call: CallWithPeer): string {
    let identity;
    try {
      identity = identityOfPeer(call.getAuthContext()?.sslPeerCertificate);
    } catch (err) {
      throw new GatewayRefusal(status.UNAUTHENTICATED, `the peer certificate names no Flotilla identity: ${(err as Error).message}`);
    }
    if (identity.role !== 'site-agent') {
      throw new GatewayRefusal(status.PERMISSION_DENIED, `only site agents may call the site gateway, not a ${identity.role}`);
    }
    this.admit(identity.site);
    return identity.site;
  }

  /** Throws GatewayRefusal unless the site exists and is not revoked. */
  admit(site: string): void {
    const refusal = this.refusal(site);
    if (refusal) throw refusal;
  }

  /** Why the site may not use the gateway now, or undefined if it may. */
  refusal(site: string): GatewayRefusal | undefined {
    const resource = this.sites.get(site);
    if (!resource || resource.metadata.deletionTimestamp) {
      return new GatewayRefusal(status.PERMISSION_DENIED, `site ${site} is not known to the hub (no Site resource)`);
    }
    if (resource.spec.revoked) {
      return new GatewayRefusal(status.PERMISSION_DENIED, `site ${site} is revoked: enrol the hospital again as a new Site`, revokedTrailers());
    }
    return undefined;
  }
}
