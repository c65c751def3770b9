/**
 * @peculiar/x509, ready to use: its dependency tsyringe needs the Reflect metadata API (the
 * reflect-metadata package) before it loads, and the library must be told which WebCrypto to sign
 * with (Node's, that is OpenSSL's).
 * Take the library's values from here; its types may be imported from '@peculiar/x509' with
 * `import type`, which loads nothing.
 */
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';

// Loaded dynamically, after reflect-metadata: a static import of a CommonJS package may be evaluated
// before the polyfill module's body (jest's ESM loader does so).
export const x509 = await import('@peculiar/x509');

x509.cryptoProvider.set(webcrypto);

/** The end of validity of the first certificate of a PEM chain. */
export function notAfterOf(chainPem: string): Date {
  return new Date(new X509Certificate(chainPem).validTo);
}
