/**
 * A process's TLS material on disk, named as in a Kubernetes TLS Secret (tls.key, tls.crt, ca.crt)
 * so that a mounted Secret and a directory written here read the same. Each file is replaced
 * atomically: a reader sees the old file or the new one, never a torn one.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../process/atomic-file.js';

export interface TlsFiles {
  /** PKCS#8 PEM private key. */
  keyPem: string;
  /** The certificate chain this process presents: its leaf first. */
  certPem: string;
  /** The certificates it trusts its peers by. */
  caPem: string;
}

export const TLS_FILE_NAMES = { key: 'tls.key', cert: 'tls.crt', ca: 'ca.crt' } as const;

/** Replaces `path` atomically with `data`, with exactly `mode` whatever the umask. */
function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  return writeFileAtomic(
    path,
    async (file) => {
      await file.chmod(mode);
      await file.writeFile(data);
    },
    { mode },
  );
}

/**
 * Writes the three files into `dir` (created 0700 if missing); the key is 0600. A process renewing
 * its certificate calls this again; readers check that key and certificate match (readTlsFiles).
 */
export async function writeTlsFiles(dir: string, files: TlsFiles): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(dir, TLS_FILE_NAMES.ca), files.caPem, 0o644);
  await writeAtomic(join(dir, TLS_FILE_NAMES.key), files.keyPem, 0o600);
  await writeAtomic(join(dir, TLS_FILE_NAMES.cert), files.certPem, 0o644);
}

/** Reads the three files from `dir` and refuses a certificate that does not belong to the key. */
export async function readTlsFiles(dir: string): Promise<TlsFiles> {
  const [keyPem, certPem, caPem] = await Promise.all(
    [TLS_FILE_NAMES.key, TLS_FILE_NAMES.cert, TLS_FILE_NAMES.ca].map((name) => readFile(join(dir, name), 'utf8')),
  ) as [string, string, string];
  let matches: boolean;
  try {
    new X509Certificate(caPem);
    matches = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new Error(`${dir}: unreadable TLS files: ${(err as Error).message}`, { cause: err });
  }
  if (!matches) {
    throw new Error(`${dir}: ${TLS_FILE_NAMES.cert} does not belong to ${TLS_FILE_NAMES.key} (written mid-renewal? read again)`);
  }
  return { keyPem, certPem, caPem };
}
