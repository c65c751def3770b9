/**
 * X25519 key agreement (node:crypto) and the AES-256-GCM envelopes that carry shares from one site
 * to another through the aggregator. Keys travel as their 32 raw bytes.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { SecAggRefusal } from './errors.js';
import { contextBytes, type RoundContext } from './params.js';

export const KEY_BYTES = 32;
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface X25519Pair {
  publicKey: Buffer;
  privateKey: Buffer;
}

export function generateX25519(): X25519Pair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'),
    privateKey: Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'),
  };
}

/** The X25519 shared secret of a private key and a peer's public key; a key of the wrong size or of low order is refused. */
export function agree(privateKey: Buffer, publicKey: Buffer): Buffer {
  if (!Buffer.isBuffer(publicKey) || publicKey.length !== KEY_BYTES) throw new SecAggRefusal(`an X25519 public key is ${KEY_BYTES} bytes`);
  if (!Buffer.isBuffer(privateKey) || privateKey.length !== KEY_BYTES) throw new SecAggRefusal(`an X25519 private key is ${KEY_BYTES} bytes`);
  try {
    return diffieHellman({
      privateKey: createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' }),
      publicKey: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' }),
    });
  } catch (err) {
    // OpenSSL refuses low-order points, whose shared secret would be all zeros.
    throw new SecAggRefusal(`X25519 key agreement failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The AES-256-GCM key for envelopes between two sites in this round. */
export function envelopeKey(privateKey: Buffer, publicKey: Buffer, context: RoundContext): Buffer {
  return Buffer.from(hkdfSync('sha256', agree(privateKey, publicKey), contextBytes(context), 'flotilla secagg share envelope', 32));
}

/** Bytes an envelope adds to its plaintext: IV and tag. */
export const ENVELOPE_OVERHEAD = IV_BYTES + TAG_BYTES;

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** The plaintext of an envelope; refused when it was not sealed with this key and these associated bytes. */
export function open(key: Buffer, envelope: Buffer, aad: Buffer): Buffer {
  if (!Buffer.isBuffer(envelope) || envelope.length < ENVELOPE_OVERHEAD) throw new SecAggRefusal('a share envelope is too short');
  const decipher = createDecipheriv('aes-256-gcm', key, envelope.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(envelope.subarray(envelope.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(envelope.subarray(IV_BYTES, envelope.length - TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw new SecAggRefusal('a share envelope does not open: it was altered or not sealed for this site', { cause: err });
  }
}

/** The public key of an X25519 private key (to check a reconstructed key against the one advertised). */
export function publicKeyOf(privateKey: Buffer): Buffer {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url');
}
