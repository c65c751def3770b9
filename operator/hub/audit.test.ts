import { describe, expect, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FederatedJob } from '../api/federatedjob.js';
import { verifyTrail } from '../audit/verify.js';
import type { Entry } from '../audit/entry.js';
import { createLogger } from '../log.js';
import { createCertificateAuthority } from '../pki/ca.js';
import { generateKeyPair } from '../pki/keys.js';
import { HubAudit } from './audit.js';

const log = createLogger('test');

const job = (status?: FederatedJob['status']): FederatedJob =>
  ({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name: 'heart', namespace: 'research', uid: 'job-uid', generation: 1 },
    spec: { rounds: 3 },
    ...(status ? { status } : {}),
  }) as unknown as FederatedJob;

async function trail() {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'hub-audit-')), 'operator.jsonl');
  const audit = await HubAudit.open(file, 'operator-0', log);
  const entries = async () => (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Entry);
  return { file, audit, entries };
}

describe('the hub audit trail', () => {
  test('a certificate is recorded by serial, expiry and fingerprint', async () => {
    const { audit, entries } = await trail();
    const ca = await createCertificateAuthority({ commonName: 'test site CA', validDays: 1 });
    const key = await generateKeyPair();
    const pem = await ca.issue({ identity: { role: 'site-agent', site: 'a' }, siteUid: '6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f', publicKey: key.publicKeyPem, validSeconds: 3600, usage: 'client' });
    await audit.siteEnrolled({ name: 'a', uid: '6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f' }, pem, '0.1.0');
    await audit.close();
    const cert = new X509Certificate(pem);
    expect((await entries())[1]).toMatchObject({
      event: 'site-enrolled',
      site: 'a',
      siteUid: '6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f',
      agentVersion: '0.1.0',
      serialNumber: cert.serialNumber,
      sha256Fingerprint: cert.fingerprint256,
      notAfter: new Date(cert.validTo).toISOString(),
    });
  });

  test("a job's start and end are written once each, however often the status write after them is retried", async () => {
    const { file, audit, entries } = await trail();
    const ended = { phase: 'Succeeded', round: 3, model: { location: 'pvc://x', sha256: 'ab'.repeat(32) }, conditions: [] } as unknown as NonNullable<FederatedJob['status']>;
    await audit.jobStatus(job(), { phase: 'Pending' } as NonNullable<FederatedJob['status']>);
    await audit.jobStatus(job(), { phase: 'Pending' } as NonNullable<FederatedJob['status']>);
    await audit.jobStatus(job({ phase: 'Running' } as FederatedJob['status']), { phase: 'Running' } as NonNullable<FederatedJob['status']>);
    await audit.jobStatus(job({ phase: 'Running' } as FederatedJob['status']), ended);
    await audit.jobStatus(job({ phase: 'Running' } as FederatedJob['status']), ended);
    await audit.siteRevoked({ name: 'b', uid: 'uid-b' }, 'revoked');
    await audit.siteRevoked({ name: 'b', uid: 'uid-b' }, 'revoked');
    await audit.close();
    const events = (await entries()).map((e) => e.event);
    expect(events).toEqual(['leader-started', 'job-accepted', 'job-ended', 'site-revoked']);
    expect((await entries())[2]).toMatchObject({ job: 'heart', jobUid: 'job-uid', phase: 'Succeeded', round: 3, modelSha256: 'ab'.repeat(32) });
    expect(verifyTrail(await readFile(file, 'utf8'))).toMatchObject({ ok: true, entries: 4 });
  });

  test('a new term continues the chain of the last', async () => {
    const { file, audit } = await trail();
    await audit.siteRevoked({ name: 'b', uid: 'uid-b' }, 'deleted');
    await audit.close();
    const next = await HubAudit.open(file, 'operator-1', log);
    await next.close();
    const text = await readFile(file, 'utf8');
    expect(verifyTrail(text)).toMatchObject({ ok: true, entries: 3 });
    expect(text.trim().split('\n').map((l) => (JSON.parse(l) as Entry).event)).toEqual(['leader-started', 'site-deleted', 'leader-started']);
  });
});
