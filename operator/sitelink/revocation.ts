/**
 * How the hub tells a site agent that its site is revoked: the PERMISSION_DENIED that ends the
 * agent's stream (and refuses its every call) carries the trailer `flotilla-refusal: site-revoked`.
 * Revocation is final (a revoked Site cannot be un-revoked), so an agent that sees it stops
 * dialling. Other refusals (a Site not known to the hub yet, say) may pass, and are retried.
 */
import { Metadata, status } from '@grpc/grpc-js';

export const REFUSAL_TRAILER = 'flotilla-refusal';
export const SITE_REVOKED = 'site-revoked';

/** The trailers of a refusal that says the site is revoked. */
export function revokedTrailers(): Metadata {
  const trailers = new Metadata();
  trailers.set(REFUSAL_TRAILER, SITE_REVOKED);
  return trailers;
}

/** Whether a call's end says the site is revoked. */
export function isRevocation(end: { code: status; metadata?: Metadata | null }): boolean {
  return end.code === status.PERMISSION_DENIED && (end.metadata?.get(REFUSAL_TRAILER) ?? []).includes(SITE_REVOKED);
}
