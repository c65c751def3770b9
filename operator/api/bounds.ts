/**
 * The bounds the status schemas of our CRDs set (maxLength, maxItems), for the code that writes
 * status and the code that takes in what sites say: whatever comes from outside the hub is cut to
 * them before it is kept, so that one oversized report cannot make a status write fail (and stall
 * every other update of the object). bounds.test.ts reads the CRDs and checks these are theirs.
 */

/** A site agent's message about one job: FederatedJob status.sites[].message. */
export const MAX_REPORT_MESSAGE = 1024;
/** Site status.agentVersion. */
export const MAX_AGENT_VERSION = 64;
/** The reports the gateway keeps of one site's agent (in memory; the Site's status holds counts). */
export const MAX_SITE_JOBS = 1000;
/** FederatedJob status.sites, as spec.sites.names. */
export const MAX_JOB_SITES = 1000;
/** A condition's message (metav1.Condition's own bound). */
export const MAX_CONDITION_MESSAGE = 32768;

const ELLIPSIS = '…';

/**
 * `text` cut to at most `max` characters, ending in an ellipsis when it was cut. Never splits a
 * UTF-16 surrogate pair (the API server counts code points; a JS string's length counts more).
 */
export function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - ELLIPSIS.length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end) + ELLIPSIS;
}

/** Text from a peer, for a log line: bounded, and control characters shown as escapes. */
export function printable(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  return bounded(text, max).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
