/**
 * Text that came from a peer, or that quotes it, cut to a length fit for a log line or a status
 * message. A peer may send megabytes of it (a version string, tensor names): whole, it would fill
 * the log, and a status message past HTTP/2's header limits breaks the caller's connection.
 */

/** Longest a status message (or a log message) may be, in characters. */
export const MAX_MESSAGE = 1_024;
/** Longest a peer's own string (a client version) may be where it is logged. */
export const MAX_PEER_STRING = 128;

export function bounded(text: string, max: number = MAX_MESSAGE): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length} characters in all)`;
}
