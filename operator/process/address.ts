/**
 * host:port addresses, as flags and endpoints spell them: an IPv6 host goes in brackets. Imports
 * nothing, so that any role (and the CLI, for every role) may use it at no cost.
 */

export interface HostPort {
  /** Empty for "every interface" (":8443"). */
  host: string;
  port: number;
}

const ADDRESS = /^(?:\[([^\]]*)\]|([^:\s[\]]*)):(\d{1,5})$/;

/** HOST:PORT or [IPV6]:PORT; undefined for anything else. */
export function splitAddress(address: string): HostPort | undefined {
  const match = ADDRESS.exec(address);
  return match ? { host: match[1] ?? match[2]!, port: Number(match[3]) } : undefined;
}

/** As splitAddress, but throws saying what was expected. */
export function parseAddress(address: string): HostPort {
  const parsed = splitAddress(address);
  if (!parsed) throw new Error(`expected HOST:PORT, got ${JSON.stringify(address)}`);
  return parsed;
}

/** The host of an address; the whole string when it has no port. */
export function hostOf(address: string): string {
  return splitAddress(address)?.host ?? address;
}

export function joinAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether a listen host means every interface. */
export function isWildcardHost(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::';
}

/** The address peers on this machine dial for a listener: loopback when it listens on every interface. */
export function dialableAddress(host: string, port: number): string {
  return joinAddress(isWildcardHost(host) ? '127.0.0.1' : host, port);
}
