/**
 * The join bundle: what the hub hands a hospital, out of band, as one base64 string, and what the
 * site agent starts from. The hub makes it (hub/join-tokens.ts); the agent reads it (site/main.ts).
 */

export interface JoinBundle {
  /** host:port of the gateway's main (mutual-TLS) port. */
  hub: string;
  /** host:port of the gateway's enrolment port. */
  enrollment: string;
  /** The Site the token is for: the agent's certificate request names it (the hub checks it against the token). */
  site: string;
  token: string;
  /** The hub's root CA: the agent pins it for both ports. */
  caPem: string;
}

export function encodeJoinBundle(bundle: JoinBundle): string {
  return Buffer.from(JSON.stringify(bundle), 'utf8').toString('base64');
}

export function decodeJoinBundle(text: string): JoinBundle {
  let parsed: Partial<JoinBundle>;
  try {
    parsed = JSON.parse(Buffer.from(text.trim(), 'base64').toString('utf8')) as Partial<JoinBundle>;
  } catch {
    throw new Error('the join bundle is not base64 of a JSON object: copy it again, whole, from the hub');
  }
  for (const field of ['hub', 'enrollment', 'site', 'token', 'caPem'] as const) {
    if (typeof parsed[field] !== 'string' || parsed[field] === '') {
      throw new Error(`the join bundle has no ${field}: copy it again, whole, from the hub`);
    }
  }
  return parsed as JoinBundle;
}
