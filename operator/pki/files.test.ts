import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, type CertificateAuthority } from './ca.js';
import { readTlsFiles, TLS_FILE_NAMES, writeTlsFiles, type TlsFiles } from './files.js';
import { generateKeyPair } from './keys.js';

describe('TLS files', () => {
  let ca: CertificateAuthority;
  let dir: string;

  async function material(): Promise<TlsFiles> {
    const key = await generateKeyPair();
    const certPem = await ca.issue({
      identity: { role: 'site-agent', site: 'st-olav' },
      publicKey: key.publicKeyPem,
      validSeconds: 60,
      usage: 'client',
    });
    return { keyPem: key.privateKeyPem, certPem, caPem: ca.certPem };
  }

  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: 'Flotilla hub', validDays: 1 });
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-pki-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('are written with the key private to its owner, and read back as written', async () => {
    const files = await material();
    const into = join(dir, 'site-agent', 'tls');
    await writeTlsFiles(into, files);
    expect((await stat(into)).mode & 0o777).toBe(0o700);
    expect((await stat(join(into, TLS_FILE_NAMES.key))).mode & 0o777).toBe(0o600);
    expect((await stat(join(into, TLS_FILE_NAMES.cert))).mode & 0o777).toBe(0o644);
    expect((await readdir(into)).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(await readFile(join(into, 'tls.key'), 'utf8')).toBe(files.keyPem);
    expect(await readTlsFiles(into)).toEqual(files);
  });

  test('are replaced on renewal, leaving no temporary files', async () => {
    await writeTlsFiles(dir, await material());
    const renewed = await material();
    await writeTlsFiles(dir, renewed);
    expect(await readTlsFiles(dir)).toEqual(renewed);
    expect((await readdir(dir)).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
  });

  test('a certificate that does not belong to the key is refused on reading', async () => {
    const first = await material();
    const second = await material();
    await writeTlsFiles(dir, { ...first, certPem: second.certPem });
    await expect(readTlsFiles(dir)).rejects.toThrow(/tls.crt does not belong to tls.key/);
  });

  test('missing or unreadable files are refused on reading', async () => {
    await expect(readTlsFiles(dir)).rejects.toThrow(/ENOENT/);
    await writeTlsFiles(dir, await material());
    await writeFile(join(dir, 'ca.crt'), 'not a certificate');
    await expect(readTlsFiles(dir)).rejects.toThrow(/unreadable TLS files/);
  });
});
