/**
 * ECDSA P-256 key pairs, usable both by WebCrypto (to sign certificates and CSRs with
 * @peculiar/x509) and by node:tls (as a PKCS#8 PEM).
 */
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { x509 } from './x509.js';

export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface KeyPair {
  /** PKCS#8 PEM ("BEGIN PRIVATE KEY"): what node:tls and grpc-js take as the private key. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"). */
  publicKeyPem: string;
  keys: webcrypto.CryptoKeyPair;
}

/** A fresh P-256 key pair. It is generated here and stays here: only CSRs and public keys travel. */
export async function generateKeyPair(): Promise<KeyPair> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey);
  return {
    privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    publicKeyPem: x509.PemConverter.encode(spki, 'PUBLIC KEY'),
    keys,
  };
}

/** Loads a P-256 private key (PKCS#8 or SEC1 PEM) with its public half. Other key types are refused. */
export async function loadKeyPair(privateKeyPem: string): Promise<KeyPair> {
  let privateKey;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch (err) {
    throw new Error(`not a readable private key: ${(err as Error).message}`, { cause: err });
  }
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (privateKey.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(`expected an ECDSA P-256 private key, got ${privateKey.asymmetricKeyType} ${curve ?? ''}`.trim());
  }
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const keys: webcrypto.CryptoKeyPair = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, KEY_ALGORITHM, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, KEY_ALGORITHM, true, ['verify']),
  };
  return {
    privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    publicKeyPem: x509.PemConverter.encode(spki, 'PUBLIC KEY'),
    keys,
  };
}
