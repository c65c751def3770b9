/**
 * X.509 name constraints (RFC 5280 4.2.1.10) on a CA: the URI hosts the names it signs may have.
 * OpenSSL checks them at every handshake against every CA of the chain, its trust anchor included,
 * so a constrained CA cannot sign a verifiable certificate for a name outside them, whoever holds
 * its key. A URI constraint constrains the host only, hence identities whose host names the trust
 * domain (identity.ts). A leading "." permits every host below a domain, not the domain itself.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, id_ce_nameConstraints, NameConstraints } from '@peculiar/asn1-x509';
import type { Extension } from '@peculiar/x509';
import { x509 } from './x509.js';

const HOST = /^\.?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** A critical extension permitting only URIs whose host is one of `hosts` (or below a ".domain"). */
export function permittedUriHosts(hosts: string[]): Extension {
  if (hosts.length === 0) throw new Error('a name constraint needs at least one permitted host');
  for (const host of hosts) if (!HOST.test(host)) throw new Error(`${JSON.stringify(host)} is not a lower-case host or .domain`);
  const constraints = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(hosts.map((host) => new GeneralSubtree({ base: new GeneralName({ uniformResourceIdentifier: host }) }))),
  });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(constraints));
}

/** The permitted URI hosts of a certificate's name constraints; undefined when it has none. */
export function permittedUriHostsOf(cert: { getExtension(type: string): Extension | null }): string[] | undefined {
  const extension = cert.getExtension(id_ce_nameConstraints);
  if (!extension) return undefined;
  const constraints = AsnConvert.parse(extension.value, NameConstraints);
  return (constraints.permittedSubtrees ?? []).map((s) => s.base.uniformResourceIdentifier).filter((h): h is string => h !== undefined);
}
