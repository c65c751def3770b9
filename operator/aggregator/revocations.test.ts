/**
 * Revocation at a real aggregator over real mutual TLS: the list it starts from, the lists the hub
 * sends to its metrics port, and the calls in flight of a site revoked meanwhile.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import winston from 'winston';
import { parseFederatedJob } from '../api/federatedjob.js';
import { AggregatorConnection } from '../client/connection.js';
import { Federation, PROTOCOL_VERSION, type FederationClient } from '../federation/proto.js';
import { toWireHeader } from '../federation/tensor-stream.js';
import { createCertificateAuthority, type CertificateAuthority } from '../pki/ca.js';
import { writeTlsFiles } from '../pki/files.js';
import { JOB_DOMAINS, jobTrustDomain } from '../pki/identity.js';
import { generateKeyPair } from '../pki/keys.js';
import { signRevocationList, type RevokedSite } from '../pki/revocation-list.js';
import { jobSettings } from './job-settings.js';
import { startAggregator, type RunningAggregator } from './run.js';

const NS = 'hospitals';
const JOB = 'heart';
const uid = (n: number) => `5e0f0c2a-0000-4000-8000-${String(n).padStart(12, '0')}`;
const settings = jobSettings(
  parseFederatedJob({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'FederatedJob', metadata: { name: JOB, namespace: NS }, spec: { sites: { names: ['a', 'b'] }, minSites: 2, rounds: 3, trainer: { command: ['true'] } } }),
  NS,
);
const silent = winston.createLogger({ silent: true });

let dir: string;
let ca: CertificateAuthority;
let running: RunningAggregator;
const clients: FederationClient[] = [];

async function tlsDir(name: string, options: { siteUid?: string; server?: boolean; site?: string } = {}): Promise<string> {
  const key = await generateKeyPair();
  const identity = options.server ? { role: 'aggregator' as const, namespace: NS, job: JOB } : { role: 'client' as const, namespace: NS, job: JOB, site: options.site ?? name };
  const certPem = await ca.issue({
    identity,
    publicKey: key.publicKeyPem,
    validSeconds: 600,
    ...(options.server ? { usage: 'server' as const, ipAddresses: ['127.0.0.1'] } : { usage: 'client' as const }),
    ...(options.siteUid ? { siteUid: options.siteUid } : {}),
  });
  const folder = path.join(dir, name);
  await writeTlsFiles(folder, { keyPem: key.privateKeyPem, certPem, caPem: ca.anchorPem });
  return folder;
}

async function client(name: string, options: { siteUid?: string; site?: string }): Promise<FederationClient> {
  const folder = await tlsDir(name, options);
  const { readTlsFiles } = await import('../pki/files.js');
  const tls = await readTlsFiles(folder);
  const c = new Federation(running.ready.address, credentials.createSsl(Buffer.from(tls.caPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem)));
  clients.push(c);
  return c;
}

const joinCode = (c: FederationClient) =>
  new Promise<{ code: number; details: string }>((resolve) =>
    c.join({ protocolVersion: PROTOCOL_VERSION, clientVersion: 't' }, (err: ServiceError | null) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' })),
  );

const list = (sites: RevokedSite[], key = ca.keyPem, job = JOB) => signRevocationList(key, { namespace: NS, job, issuedAt: new Date().toISOString(), sites });
const put = (body: string) => fetch(`http://${running.ready.metricsAddress}/revocations`, { method: 'PUT', body }).then(async (r) => ({ status: r.status, body: await r.text() }));

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flotilla-revocations-'));
  const root = await createCertificateAuthority({ commonName: 'job root', validDays: 1, permittedUriHosts: [`.${JOB_DOMAINS}`] });
  ca = await root.issueIntermediate({ commonName: 'job heart', validDays: 1, permittedUriHosts: [jobTrustDomain(NS, JOB)] });
  const revocationsFile = path.join(dir, 'revocations.json');
  await writeFile(revocationsFile, list([{ name: 'a', uid: uid(9), revokedAt: new Date().toISOString() }]));
  running = await startAggregator(settings, {
    listen: '127.0.0.1:0',
    metricsListen: '127.0.0.1:0',
    tlsDir: await tlsDir('aggregator', { server: true }),
    stateDir: path.join(dir, 'state'),
    revocationsFile,
    log: silent,
  });
});
afterAll(async () => {
  clients.forEach((c) => c.close());
  await running?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('revocation at the aggregator', () => {
  test('a Site uid revoked in the list it started from is refused; the same site under its new uid is not', async () => {
    expect(await joinCode(await client('a-old', { site: 'a', siteUid: uid(9) }))).toEqual({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/site a \(uid .*9\) is revoked/) });
    expect((await joinCode(await client('a-new', { site: 'a', siteUid: uid(1) }))).code).toBe(status.OK);
  });

  test('a certificate naming no Site uid is refused', async () => {
    expect(await joinCode(await client('b-none', { site: 'b' }))).toEqual({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/names no Site uid/) });
  });

  test('a list the job CA did not sign, or signed for another job, is refused with 400 and revokes nothing', async () => {
    const b = await client('b', { siteUid: uid(2) });
    const other = await (await createCertificateAuthority({ commonName: 'other', validDays: 1 })).issueIntermediate({ commonName: 'o', validDays: 1 });
    const revokeB = [{ name: 'b', uid: uid(2), revokedAt: new Date().toISOString() }];
    expect((await put(list(revokeB, other.keyPem))).status).toBe(400);
    expect((await put(list(revokeB, ca.keyPem, 'lungs'))).status).toBe(400);
    expect((await put('{')).status).toBe(400);
    expect((await put('x'.repeat(3 << 20))).status).toBe(400);
    expect((await joinCode(b)).code).toBe(status.OK);
  });

  test('a site revoked while its long poll waits has the call ended with the refusal, at once; the others carry on', async () => {
    const b = await client('b-poll', { siteUid: uid(3), site: 'b' });
    const a = await client('a-poll', { siteUid: uid(1), site: 'a' });
    expect((await joinCode(b)).code).toBe(status.OK);
    // Every site is asked for the initial model, adopted once both sent the same bytes: b sends its
    // own, and then waits in a long poll for a's.
    const first = await new Promise<string>((resolve, reject) => a.nextTask({ waitMs: 1_000 }, (err, task) => (err ? reject(err) : resolve(task!.kind))));
    expect(first).toBe('INITIALIZE');
    const bTask = await new Promise<{ kind: string; round: number; attempt: number }>((resolve, reject) => b.nextTask({ waitMs: 1_000 }, (err, task) => (err ? reject(err) : resolve(task!))));
    expect(bTask.kind).toBe('INITIALIZE');
    const bConnection = await AggregatorConnection.dial(running.ready.address, path.join(dir, 'b-poll'), { namespace: NS, job: JOB });
    try {
      const weights = new Float32Array([0.5, -0.5]);
      await bConnection.submitUpdate({ kind: 'INITIALIZE', round: bTask.round, attempt: bTask.attempt, model: toWireHeader([{ name: 'w', dtype: 'F32', shape: [2] }]) }, [weights]);
    } finally {
      bConnection.close();
    }
    const started = Date.now();
    const poll = new Promise<{ code: number; details: string }>((resolve) =>
      b.nextTask({ waitMs: 20_000 }, (err: ServiceError | null) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' })),
    );
    await new Promise((r) => setTimeout(r, 300));
    const answer = await put(list([{ name: 'b', uid: uid(3), revokedAt: new Date().toISOString() }]));
    expect(answer).toEqual({ status: 200, body: JSON.stringify({ added: ['b'], total: 2 }) });
    expect(await poll).toEqual({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/site b .* is revoked/) });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await joinCode(b)).code).toBe(status.PERMISSION_DENIED);
    expect((await joinCode(a)).code).toBe(status.OK);
    // Sent again (a replay), it changes nothing.
    expect((await put(list([{ name: 'b', uid: uid(3), revokedAt: new Date().toISOString() }]))).body).toBe(JSON.stringify({ added: [], total: 2 }));
  });

  test('an aggregator whose list is missing or not signed by its job CA does not start', async () => {
    const base = { listen: '127.0.0.1:0', tlsDir: path.join(dir, 'aggregator'), log: silent };
    await expect(startAggregator(settings, { ...base, stateDir: path.join(dir, 's2'), revocationsFile: path.join(dir, 'missing.json') })).rejects.toThrow(/missing.json/);
    const forged = path.join(dir, 'forged.json');
    const other = await (await createCertificateAuthority({ commonName: 'other', validDays: 1 })).issueIntermediate({ commonName: 'o', validDays: 1 });
    await writeFile(forged, list([], other.keyPem));
    await expect(startAggregator(settings, { ...base, stateDir: path.join(dir, 's3'), revocationsFile: forged })).rejects.toThrow(/not signed by this job's CA/);
  });
});
