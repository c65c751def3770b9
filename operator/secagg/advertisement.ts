/**
 * A site's two public keys for a round, signed with the private key of its job certificate. Every
 * site checks each neighbour's advertisement against the job CA and the neighbour's identity, so
 * the aggregator, which relays them, cannot put its own keys in a site's place.
 */
import { sign, verify, X509Certificate } from 'node:crypto';
import { formatIdentity, identityOfPeer } from '../pki/identity.js';
import { issuedBy } from '../pki/peer-check.js';
import { SecAggRefusal } from './errors.js';
import { KEY_BYTES } from './key-agreement.js';
import { checkSiteName, contextBytes, type RoundContext } from './params.js';

const MAX_CERT_PEM = 16 * 1024;
/** An ECDSA P-256 signature in DER is at most 72 bytes; room for larger curves. */
const MAX_SIGNATURE = 160;

export interface Advertisement {
  site: string;
  /** X25519 public key for pairwise masks. */
  maskKey: Buffer;
  /** X25519 public key for the envelopes that carry shares to this site. */
  envelopeKey: Buffer;
  /** The site's job certificate (its chain may follow; only the first certificate counts). */
  certPem: string;
  signature: Buffer;
}

export interface SiteCredentials {
  /** The job certificate's private key, PEM. */
  keyPem: string;
  certPem: string;
}

function signedBytes(site: string, maskKey: Buffer, envelopeKey: Buffer, context: RoundContext): Buffer {
  return Buffer.concat([contextBytes(context), Buffer.from(`advertise\0${site}\0`), maskKey, envelopeKey]);
}

export function signAdvertisement(
  keys: { site: string; maskKey: Buffer; envelopeKey: Buffer },
  context: RoundContext,
  credentials: SiteCredentials,
): Advertisement {
  const signature = sign('sha256', signedBytes(keys.site, keys.maskKey, keys.envelopeKey, context), credentials.keyPem);
  return { ...keys, certPem: credentials.certPem, signature };
}

function key(what: string, value: unknown): Buffer {
  if (!Buffer.isBuffer(value) || value.length !== KEY_BYTES) throw new SecAggRefusal(`${what} must be ${KEY_BYTES} bytes`);
  return value;
}

/**
 * Throws SecAggRefusal unless `ad` was signed, for this round, by a certificate the job CA
 * (`jobCaPem`, the anchor a site trusts) issued to the site it names, valid now.
 */
export function verifyAdvertisement(ad: Advertisement, context: RoundContext, jobCaPem: string, now = new Date()): void {
  const site = checkSiteName(ad?.site);
  const refuse = (why: string): never => {
    throw new SecAggRefusal(`the advertisement of site ${site} is refused: ${why}`);
  };
  key(`site ${site}'s mask key`, ad.maskKey);
  key(`site ${site}'s envelope key`, ad.envelopeKey);
  if (typeof ad.certPem !== 'string' || ad.certPem.length > MAX_CERT_PEM) refuse(`its certificate is not a PEM of at most ${MAX_CERT_PEM} characters`);
  if (!Buffer.isBuffer(ad.signature) || ad.signature.length === 0 || ad.signature.length > MAX_SIGNATURE) refuse('its signature is missing or too long');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ad.certPem);
  } catch {
    return refuse('its certificate cannot be read');
  }
  if (!issuedBy(cert, jobCaPem)) refuse("its certificate was not issued by the job's CA");
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) refuse('its certificate is not valid now');
  let identity: string;
  try {
    identity = formatIdentity(identityOfPeer(cert));
  } catch (err) {
    return refuse((err as Error).message);
  }
  const want = formatIdentity({ role: 'client', namespace: context.namespace, job: context.job, site });
  if (identity !== want) refuse(`its certificate names ${identity}, not ${want}`);
  if (!verify('sha256', signedBytes(site, ad.maskKey, ad.envelopeKey, context), cert.publicKey, ad.signature)) {
    refuse('its signature does not match its keys (substituted on the way?)');
  }
}
