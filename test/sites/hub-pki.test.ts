/**
 * The hub's PKI and join tokens against a real kube-apiserver: what lands in Secrets, races between
 * operators and between enrolments, and real TLS handshakes with what was issued.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as tls from 'node:tls';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { loadKubeConfig } from '../../operator/kube/kubeconfig.js';
import { X509Certificate } from 'node:crypto';
import { HubPki, JOB_ROOT_SECRET, SITE_CA_SECRET, jobCaSecretName, type JobRef, type SiteRef } from '../../operator/hub/pki.js';
import { permittedUriHostsOf } from '../../operator/pki/name-constraints.js';
import { siteUidOfPeer } from '../../operator/pki/identity.js';
import { x509 } from '../../operator/pki/x509.js';
import { JoinTokens, JoinTokenRefused } from '../../operator/hub/join-tokens.js';
import { decodeJoinBundle } from '../../operator/sitelink/join-bundle.js';
import { createCsr } from '../../operator/pki/csr.js';
import { generateKeyPair } from '../../operator/pki/keys.js';
import { identityOfPeer, type Identity } from '../../operator/pki/identity.js';
import { until } from '../support/clock.js';

jest.setTimeout(120_000);

const OPERATOR_NS = 'flotilla-system';
const JOBS_NS = 'hospitals';

let hub: ControlPlane;
let core: CoreV1Api;
let kc: KubeConfig;

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  hub = await startControlPlane({ name: 'hub-pki' });
  await hub.kubectl(['create', 'namespace', OPERATOR_NS]);
  await hub.kubectl(['create', 'namespace', JOBS_NS]);
  kc = loadKubeConfig(hub.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(() => hub?.stop());

const secretText = async (namespace: string, name: string) => {
  const secret = await core.readNamespacedSecret({ name, namespace });
  return { secret, text: (key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8') };
};

/** A TLS handshake where the server demands a client certificate; resolves to what the server saw. */
function handshake(server: tls.TlsOptions, client: tls.ConnectionOptions): Promise<{ accepted: Identity } | { refused: string }> {
  return new Promise((resolve) => {
    const srv = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: true });
    const finish = (outcome: { accepted: Identity } | { refused: string }) => {
      srv.close();
      resolve(outcome);
    };
    srv.on('secureConnection', (socket) => {
      finish({ accepted: identityOfPeer(socket.getPeerCertificate()) });
      socket.destroy();
    });
    srv.on('tlsClientError', (err, socket) => finish({ refused: String(socket.authorizationError ?? err.message) }));
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...client });
      socket.on('error', () => undefined);
      socket.on('secureConnect', () => setTimeout(() => socket.destroy(), 200));
    });
  });
}

async function clientCredentials(pki: HubPki, job: JobRef, site: string) {
  const key = await generateKeyPair();
  const csr = await createCsr({ role: 'client', namespace: job.namespace, job: job.name, site }, key);
  const issued = await pki.signClientCsr(job, { name: site, uid: STOLAV.uid }, csr);
  return { key: key.privateKeyPem, cert: issued.certificatePem, ca: issued.caPem };
}

const STOLAV: SiteRef = { name: 'st-olav', uid: '5e0f0c2a-0000-4000-8000-0000000000a1' };

describe('HubPki', () => {
  test('operators starting at once agree on one site CA and one job root, kept in the operator namespace', async () => {
    const pkis = await Promise.all([1, 2, 3].map(() => HubPki.open({ kc, namespace: OPERATOR_NS })));
    expect(new Set(pkis.map((p) => p.siteCa().certPem)).size).toBe(1);
    expect(new Set(pkis.map((p) => p.jobRootCa().certPem)).size).toBe(1);
    expect(pkis[0]!.siteCa().certPem).not.toBe(pkis[0]!.jobRootCa().certPem);
    for (const [name, ca] of [
      [SITE_CA_SECRET, pkis[0]!.siteCa()],
      [JOB_ROOT_SECRET, pkis[0]!.jobRootCa()],
    ] as const) {
      const { secret, text } = await secretText(OPERATOR_NS, name);
      expect(secret.type).toBe('kubernetes.io/tls');
      expect(text('tls.crt')).toBe(ca.certPem);
      expect(text('tls.key')).toContain('BEGIN PRIVATE KEY');
    }
  });

  test("each job's CA lives in the operator namespace, never beside the job, and is the same for every operator", async () => {
    const job: JobRef = { namespace: JOBS_NS, name: 'heart', uid: '0c6b1a52-0000-4000-8000-000000000001' };
    const [a, b] = await Promise.all([HubPki.open({ kc, namespace: OPERATOR_NS }), HubPki.open({ kc, namespace: OPERATOR_NS })]);
    const [caA, caB] = await Promise.all([a!.jobCa(job), b!.jobCa(job)]);
    expect(caA.certPem).toBe(caB.certPem);
    const { secret, text } = await secretText(OPERATOR_NS, jobCaSecretName(job));
    expect(secret.metadata?.labels).toMatchObject({ 'flotilla.dev/job-uid': job.uid, 'flotilla.dev/job': 'heart', 'flotilla.dev/job-namespace': JOBS_NS });
    expect(text('tls.crt')).toBe(caA.certPem);
    expect(text('ca.crt')).toBe(a!.jobRootCa().certPem);
    expect(text('anchor.crt')).toBe(caA.anchorPem);
    expect((await core.listNamespacedSecret({ namespace: JOBS_NS })).items).toEqual([]);
    // The job root signs it, not the site CA; it may only name its own job.
    const cert = new X509Certificate(caA.certPem);
    expect(cert.checkIssued(new X509Certificate(a!.jobRootCa().certPem))).toBe(true);
    expect(cert.checkIssued(new X509Certificate(a!.siteCa().certPem))).toBe(false);
    expect(permittedUriHostsOf(new x509.X509Certificate(caA.certPem))).toEqual([`heart.${JOBS_NS}.jobs.flotilla.dev`]);
    expect(permittedUriHostsOf(new x509.X509Certificate(caA.anchorPem))).toEqual([`heart.${JOBS_NS}.jobs.flotilla.dev`]);
  });

  test("a job's aggregator accepts its own clients and refuses another job's at the handshake", async () => {
    const pki = await HubPki.open({ kc, namespace: OPERATOR_NS });
    const heart: JobRef = { namespace: JOBS_NS, name: 'heart', uid: '0c6b1a52-0000-4000-8000-000000000001' };
    const lungs: JobRef = { namespace: JOBS_NS, name: 'lungs', uid: '0c6b1a52-0000-4000-8000-000000000002' };
    const aggregator = await pki.issueAggregatorCertificate(heart, ['localhost'], ['127.0.0.1']);
    const server = { key: aggregator.privateKeyPem, cert: aggregator.certificatePem, ca: aggregator.caPem };
    const own = await clientCredentials(pki, heart, 'st-olav');
    const other = await clientCredentials(pki, lungs, 'st-olav');

    expect(await handshake(server, own)).toEqual({
      accepted: { role: 'client', namespace: JOBS_NS, job: 'heart', site: 'st-olav' },
    });
    // The other job's client would not trust this aggregator either; let it, to see the server's verdict.
    expect(await handshake(server, { ...other, ca: pki.jobRootCa().certPem })).toEqual({ refused: expect.stringMatching(/ISSUER/) });
  });

  test("a deleted job's CA goes with it; a new job of the same name gets a CA of its own", async () => {
    const pki = await HubPki.open({ kc, namespace: OPERATOR_NS });
    const first: JobRef = { namespace: JOBS_NS, name: 'kidney', uid: '0c6b1a52-0000-4000-8000-00000000000a' };
    const second: JobRef = { ...first, uid: '0c6b1a52-0000-4000-8000-00000000000b' };
    const ca = await pki.jobCa(first);
    await pki.deleteJobCa(first);
    await expect(core.readNamespacedSecret({ name: jobCaSecretName(first), namespace: OPERATOR_NS })).rejects.toMatchObject({ code: 404 });
    expect((await pki.jobCa(second)).certPem).not.toBe(ca.certPem);
  });

  test('a CSR for another identity than the one asked for is refused', async () => {
    const pki = await HubPki.open({ kc, namespace: OPERATOR_NS });
    const key = await generateKeyPair();
    const csr = await createCsr({ role: 'site-agent', site: 'other-hospital' }, key);
    await expect(pki.signSiteAgentCsr(STOLAV, csr)).rejects.toThrow(/may only have spiffe:\/\/flotilla.dev\/site\/st-olav/);
  });

  test("site agents' and clients' certificates name the Site's uid", async () => {
    const pki = await HubPki.open({ kc, namespace: OPERATOR_NS });
    const key = await generateKeyPair();
    const agent = await pki.signSiteAgentCsr(STOLAV, await createCsr({ role: 'site-agent', site: 'st-olav' }, key));
    expect(siteUidOfPeer(new X509Certificate(agent.certificatePem))).toBe(STOLAV.uid);
    expect(new X509Certificate(agent.certificatePem).checkIssued(new X509Certificate(pki.siteCa().certPem))).toBe(true);
    const client = await clientCredentials(pki, { namespace: JOBS_NS, name: 'heart', uid: '0c6b1a52-0000-4000-8000-000000000001' }, 'st-olav');
    expect(siteUidOfPeer(new X509Certificate(client.cert))).toBe(STOLAV.uid);
  });
});

/** A Site as the tokens take it: its name, and a uid of its own. */
const ref = (name: string): SiteRef => ({ name, uid: `5e0f0c2a-0000-4000-8000-${Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12)}` });

describe('JoinTokens', () => {
  let tokens: JoinTokens;

  beforeAll(async () => {
    const pki = await HubPki.open({ kc, namespace: OPERATOR_NS });
    tokens = new JoinTokens({
      kc,
      namespace: OPERATOR_NS,
      gatewayAddress: 'hub.example.org:7443',
      enrollmentAddress: 'hub.example.org:7444',
      caPem: pki.siteCa().certPem,
    });
  });

  test('the bundle carries the addresses, the site, the token and the CA; the hub keeps only a hash', async () => {
    const issued = await tokens.issue(ref('st-olav'), 600);
    const bundle = decodeJoinBundle(issued.bundle);
    expect(bundle).toEqual({
      hub: 'hub.example.org:7443',
      enrollment: 'hub.example.org:7444',
      site: 'st-olav',
      token: issued.token,
      caPem: expect.stringContaining('BEGIN CERTIFICATE'),
    });
    const [id, secret] = issued.token.split('.') as [string, string];
    const { secret: stored, text } = await secretText(OPERATOR_NS, `flotilla-join-${id}`);
    expect(text('site')).toBe('st-olav');
    expect(text('siteUid')).toBe(ref('st-olav').uid);
    expect(text('secretSha256')).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(JSON.stringify(stored)).not.toContain(Buffer.from(secret).toString('base64'));
  });

  test('a token works once; the second use is refused', async () => {
    const { token } = await tokens.issue(ref('st-olav'), 600);
    await expect(tokens.consume(token)).resolves.toEqual(ref('st-olav'));
    await expect(tokens.consume(token)).rejects.toThrow(/unknown or was already used/);
  });

  test('of several enrolments racing with one token, exactly one succeeds', async () => {
    const { token } = await tokens.issue(ref('haukeland'), 600);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => tokens.consume(token)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
      expect(r.reason).toBeInstanceOf(JoinTokenRefused);
    }
  });

  test('expired, forged and malformed tokens are refused with their reason', async () => {
    const { token, expiresAt } = await tokens.issue(ref('ous'), 1);
    await until(expiresAt);
    await expect(tokens.consume(token)).rejects.toThrow(/expired at/);

    const fresh = await tokens.issue(ref('ous'), 600);
    const forged = `${fresh.token.split('.')[0]}.${'A'.repeat(43)}`;
    await expect(tokens.consume(forged)).rejects.toThrow(/wrong secret/);
    await expect(tokens.consume('not-a-token')).rejects.toThrow(/malformed/);
    // The forged attempt did not spend the real token.
    await expect(tokens.consume(fresh.token)).resolves.toEqual(ref('ous'));
  });

  test("a new token replaces the site's outstanding one", async () => {
    const old = await tokens.issue(ref('unn'), 600);
    const renewed = await tokens.issue(ref('unn'), 600);
    await expect(tokens.consume(old.token)).rejects.toThrow(/unknown or was already used/);
    await expect(tokens.consume(renewed.token)).resolves.toEqual(ref('unn'));
  });

  test('a token is not spent when what it was to be spent on fails', async () => {
    const { token } = await tokens.issue(ref('sus'), 600);
    await expect(tokens.consume(token, async () => Promise.reject(new Error('bad CSR')))).rejects.toThrow('bad CSR');
    await expect(tokens.consume(token)).resolves.toEqual(ref('sus'));
  });
});
