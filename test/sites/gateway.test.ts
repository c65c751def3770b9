/**
 * The site gateway over real gRPC sockets, with a real kube-apiserver behind its PKI, tokens and
 * Site cache. The agent side is a bare gRPC client, so each protocol rule is seen on the wire.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { credentials, status, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { startTestCluster, type TestCluster } from '../support/test-cluster.js';
import { SiteEnrollment, SiteGateway, type AgentMessage, type HubMessage__Output, type SignedCertificate__Output, type SiteGatewayClient } from '../../operator/sitelink/proto.js';
import { decodeJoinBundle } from '../../operator/sitelink/join-bundle.js';
import { createCsr } from '../../operator/pki/csr.js';
import { identityOfPeer, type Identity } from '../../operator/pki/identity.js';
import { generateKeyPair, type KeyPair } from '../../operator/pki/keys.js';
import { TOKEN_REFUSED } from '../../operator/hub/gateway/certificates.js';
import { applySite, assignment, FreezableProxy, startHub, type TestHub } from './support.js';
import { until } from '../support/clock.js';
import { idleTcp } from '../support/hostile/floods.js';
import { HANDSHAKE_BOUNDS } from '../../operator/process/guarded-listener.js';

jest.setTimeout(120_000);

let cluster: TestCluster;
let hub: TestHub;

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  cluster = await startTestCluster('hub-gateway');
  hub = await startHub(cluster.kc);
  await cluster.controlPlane.kubectl(['create', 'namespace', 'cardiology']);
  for (const site of ['st-olav', 'haukeland', 'ous', 'unn', 'sus']) await applySite(cluster.controlPlane.kubectl, site);
  await eventually(() => hub.sites.list().length === 5, 10_000, 'the Site cache holds the sites');
});
afterAll(async () => {
  await hub?.stop();
  await cluster?.stop();
});

interface AgentCredentials {
  key: KeyPair;
  certificatePem: string;
  caPem: string;
}

function enrollCall(token: string, csrPem: string): Promise<{ site: string; certificate: SignedCertificate__Output }> {
  const bundleCa = hub.pki.siteCa().certPem;
  const client = new SiteEnrollment(`127.0.0.1:${hub.ports.enrollment}`, credentials.createSsl(Buffer.from(bundleCa)));
  return new Promise((resolve, reject) =>
    client.enroll({ token, csrPem, agentVersion: 'test' }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve({ site: res!.site, certificate: res!.certificate! });
    }),
  );
}

async function enrol(site: string): Promise<AgentCredentials> {
  const { token } = await hub.issueToken(site, 600);
  const key = await generateKeyPair();
  const { certificate } = await enrollCall(token, await createCsr({ role: 'site-agent', site }, key));
  return { key, certificatePem: certificate.certificatePem, caPem: certificate.caPem };
}

function gatewayClient(agent: { key: KeyPair; certificatePem: string }, port = hub.ports.main): SiteGatewayClient {
  return new SiteGateway(
    `127.0.0.1:${port}`,
    credentials.createSsl(Buffer.from(hub.pki.siteCa().certPem), Buffer.from(agent.key.privateKeyPem), Buffer.from(agent.certificatePem)),
    { 'grpc.ssl_target_name_override': 'localhost' },
  );
}

/** A Connect stream whose messages and end are recorded. */
function openStream(client: SiteGatewayClient) {
  const call: ClientDuplexStream<AgentMessage, HubMessage__Output> = client.connect();
  const sets: string[][] = [];
  const messages: HubMessage__Output[] = [];
  let ended: StatusObject | undefined;
  call.on('data', (m: HubMessage__Output) => {
    messages.push(m);
    if (m.assignments) sets.push(m.assignments.assignments.map((a) => `${a.namespace}/${a.job}`));
  });
  call.on('error', () => undefined);
  call.on('status', (s: StatusObject) => (ended = s));
  return {
    call,
    sets,
    messages,
    get ended() {
      return ended;
    },
    hello: (statuses: AgentMessage['hello'] = { agentVersion: 'test', status: { assignments: [] } }) => call.write({ hello: statuses }),
  };
}

function unary<T>(invoke: (callback: (err: ServiceError | null, res?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res!))));
}

const sign = (client: SiteGatewayClient, namespace: string, job: string, csrPem: string) =>
  unary<SignedCertificate__Output>((cb) => client.signClientCertificate({ namespace, job, csrPem }, cb));

describe('enrolment', () => {
  test('a token enrols its site once, with a certificate for the site identity; a second use is refused', async () => {
    const { token } = await hub.issueToken('st-olav', 600);
    const key = await generateKeyPair();
    const csr = await createCsr({ role: 'site-agent', site: 'st-olav' }, key);
    const response = await enrollCall(token, csr);
    expect(response.site).toBe('st-olav');
    expect(identityOfPeer(new X509Certificate(response.certificate.certificatePem))).toEqual({ role: 'site-agent', site: 'st-olav' });
    expect(response.certificate.caPem).toBe(hub.pki.siteCa().certPem);
    expect(response.certificate.notAfterUnixMs).toBe(Date.parse(new X509Certificate(response.certificate.certificatePem).validTo));

    await expect(enrollCall(token, csr)).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: TOKEN_REFUSED });
  });

  test('a CSR for another site is refused and leaves the token usable', async () => {
    const { token } = await hub.issueToken('haukeland', 600);
    const key = await generateKeyPair();
    await expect(enrollCall(token, await createCsr({ role: 'site-agent', site: 'st-olav' }, key))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/may only have spiffe:\/\/flotilla.dev\/site\/haukeland/),
    });
    await expect(enrollCall(token, await createCsr({ role: 'site-agent', site: 'haukeland' }, key))).resolves.toMatchObject({ site: 'haukeland' });
  });

  test('an expired token is refused', async () => {
    const { token, expiresAt } = await hub.issueToken('ous', 1);
    await until(expiresAt);
    const key = await generateKeyPair();
    await expect(enrollCall(token, await createCsr({ role: 'site-agent', site: 'ous' }, key))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
      details: TOKEN_REFUSED,
    });
  });

  test('the bundle names what the agent needs to enrol and connect', async () => {
    const { bundle } = await hub.issueToken('unn', 600);
    expect(decodeJoinBundle(bundle)).toMatchObject({
      hub: `127.0.0.1:${hub.ports.main}`,
      enrollment: `127.0.0.1:${hub.ports.enrollment}`,
      site: 'unn',
      caPem: hub.pki.siteCa().certPem,
    });
  });
});

describe('Connect', () => {
  let agent: AgentCredentials;
  let client: SiteGatewayClient;

  beforeAll(async () => {
    agent = await enrol('st-olav');
    client = gatewayClient(agent);
  });
  afterAll(() => client?.close());

  test('the hub sends the complete set at once, and again when it changes to an agent that takes no changes; reports reach the sessions', async () => {
    hub.assignments.set('st-olav', [assignment('heart')]);
    const stream = openStream(client);
    stream.hello({ agentVersion: '9.9.9', status: { assignments: [] } });
    await eventually(() => stream.sets.length === 1, 5_000, 'the first set');
    expect(stream.sets[0]).toEqual(['cardiology/heart']);
    expect(hub.sessions.get('st-olav')).toMatchObject({ site: 'st-olav', agentVersion: '9.9.9', assignments: [] });

    hub.assignments.set('st-olav', [assignment('heart'), assignment('lungs')]);
    await eventually(() => stream.sets.length === 2, 5_000, 'the second set');
    expect(stream.sets[1]).toEqual(['cardiology/heart', 'cardiology/lungs']);

    // Of a report, the hub keeps what concerns jobs it gave the site.
    const report = (job: string, jobUid: string) => ({ namespace: 'cardiology', job, jobUid, phase: 'Running', message: '' });
    stream.call.write({ status: { assignments: [report('heart', assignment('heart').jobUid), report('made-up', 'u')] } });
    await eventually(() => hub.sessions.get('st-olav')?.assignments.length === 1, 5_000, 'the report');
    expect(hub.sessions.get('st-olav')!.assignments[0]).toMatchObject({ job: 'heart', phase: 'Running' });
    expect(hub.sessions.get('st-olav')!.certificateExpiry.getTime()).toBe(Date.parse(new X509Certificate(agent.certificatePem).validTo));

    stream.call.end();
    await eventually(() => hub.sessions.get('st-olav') === undefined, 5_000, 'the session to close');
  });

  test('an agent that takes changes is sent the complete set once, then only the jobs that changed', async () => {
    const names = (list: { namespace: string; job: string }[]) => list.map((a) => `${a.namespace}/${a.job}`);
    hub.assignments.set('st-olav', [assignment('heart'), assignment('lungs')]);
    const stream = openStream(client);
    stream.hello({ agentVersion: 'test', status: { assignments: [] }, acceptsChanges: true });
    await eventually(() => stream.messages.length === 1, 5_000, 'the first set');
    expect(stream.messages[0]!.body).toBe('assignments');
    expect(stream.sets[0]).toEqual(['cardiology/heart', 'cardiology/lungs']);

    // One job's spec changes, one job is new, one is withdrawn: one message of those three alone.
    hub.assignments.set('st-olav', [assignment('heart', { generation: 2 }), assignment('kidney')]);
    await eventually(() => stream.messages.length === 2, 5_000, 'the changes');
    const changes = stream.messages[1]!;
    expect(changes.body).toBe('changes');
    expect(names(changes.changes!.changed)).toEqual(['cardiology/heart', 'cardiology/kidney']);
    expect(changes.changes!.changed[0]).toMatchObject({ generation: 2, jobManifest: assignment('heart').jobManifest });
    expect(changes.changes!.withdrawn).toEqual([{ namespace: 'cardiology', job: 'lungs' }]);

    // The same set again, as new objects: nothing is sent.
    hub.assignments.set('st-olav', [assignment('heart', { generation: 2 }), assignment('kidney')]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(stream.messages).toHaveLength(2);

    // A new stream (a reconnect) begins again with the complete set.
    const again = openStream(client);
    again.hello({ agentVersion: 'test', status: { assignments: [] }, acceptsChanges: true });
    await eventually(() => again.messages.length === 1, 5_000, 'the set on the new stream');
    expect(again.sets[0]).toEqual(['cardiology/heart', 'cardiology/kidney']);
    again.call.end();
    await eventually(() => hub.sessions.get('st-olav') === undefined, 5_000, 'the session to close');
  });

  test('a stream must begin with a hello, and soon', async () => {
    const early = openStream(client);
    early.call.write({ status: { assignments: [] } });
    await eventually(() => early.ended !== undefined, 5_000, 'the stream to end');
    expect(early.ended).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/hello/) });

    const silent = openStream(client);
    await eventually(() => silent.ended !== undefined, 5_000, 'the stream to end');
    expect(silent.ended).toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });

  test('a newer stream of the same site replaces the older one', async () => {
    const first = openStream(client);
    first.hello();
    await eventually(() => first.sets.length === 1, 5_000, 'the first stream');
    const second = openStream(client);
    second.hello();
    await eventually(() => first.ended !== undefined && second.sets.length === 1, 5_000, 'the takeover');
    expect(first.ended).toMatchObject({ code: status.ABORTED });
    expect(hub.sessions.get('st-olav')).toBeDefined();
    second.call.end();
    await eventually(() => hub.sessions.get('st-olav') === undefined, 5_000, 'the session to close');
  });

  test('an agent that stops answering is noticed by keepalive pings', async () => {
    const proxy = await FreezableProxy.start(hub.ports.main);
    const viaProxy = gatewayClient(agent, proxy.port);
    try {
      const stream = openStream(viaProxy);
      stream.hello();
      await eventually(() => hub.sessions.get('st-olav') !== undefined, 5_000, 'the session');
      proxy.freeze();
      // Pings every second, one second to answer.
      await eventually(() => hub.sessions.get('st-olav') === undefined, 10_000, 'the dead agent to be noticed');
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });
});

describe('certificates', () => {
  let agent: AgentCredentials;
  let client: SiteGatewayClient;

  beforeAll(async () => {
    agent = await enrol('haukeland');
    client = gatewayClient(agent);
    hub.assignments.set('haukeland', [assignment('heart')]);
  });
  afterAll(() => client?.close());

  test("a client certificate is signed for a job assigned to the site, chained to the job's CA", async () => {
    const key = await generateKeyPair();
    const identity: Identity = { role: 'client', namespace: 'cardiology', job: 'heart', site: 'haukeland' };
    const signed = await sign(client, 'cardiology', 'heart', await createCsr(identity, key));
    expect(identityOfPeer(new X509Certificate(signed.certificatePem))).toEqual(identity);
    const jobCa = await hub.pki.jobCa({ namespace: 'cardiology', name: 'heart', uid: assignment('heart').jobUid });
    expect(signed.certificatePem).toContain(jobCa.certPem.trim());
    expect(signed.caPem).toBe(jobCa.anchorPem);
  });

  test('a job not assigned to the site, or a CSR for another site, is refused', async () => {
    const key = await generateKeyPair();
    const lungs = await createCsr({ role: 'client', namespace: 'cardiology', job: 'lungs', site: 'haukeland' }, key);
    await expect(sign(client, 'cardiology', 'lungs', lungs)).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
      details: 'job cardiology/lungs is not assigned to site haukeland',
    });
    const otherSite = await createCsr({ role: 'client', namespace: 'cardiology', job: 'heart', site: 'st-olav' }, key);
    await expect(sign(client, 'cardiology', 'heart', otherSite)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  test("the agent renews its own certificate, and only as its own site", async () => {
    const key = await generateKeyPair();
    const csrPem = await createCsr({ role: 'site-agent', site: 'haukeland' }, key);
    const renewed = await unary<SignedCertificate__Output>((cb) => client.renewCertificate({ csrPem }, cb));
    expect(identityOfPeer(new X509Certificate(renewed.certificatePem))).toEqual({ role: 'site-agent', site: 'haukeland' });
    const stream = openStream(gatewayClient({ key, certificatePem: renewed.certificatePem }));
    stream.hello();
    await eventually(() => stream.sets.length === 1, 5_000, 'a stream with the renewed certificate');
    stream.call.end();

    const stranger = await createCsr({ role: 'site-agent', site: 'st-olav' }, key);
    await expect(unary((cb) => client.renewCertificate({ csrPem: stranger }, cb))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  test("a client certificate, a job CA's, is refused at the handshake: the gateway trusts the site CA alone", async () => {
    const key = await generateKeyPair();
    const signed = await sign(client, 'cardiology', 'heart', await createCsr({ role: 'client', namespace: 'cardiology', job: 'heart', site: 'haukeland' }, key));
    const asClient = gatewayClient({ key, certificatePem: signed.certificatePem });
    try {
      await expect(sign(asClient, 'cardiology', 'heart', 'x')).rejects.toMatchObject({ code: status.UNAVAILABLE });
    } finally {
      asClient.close();
    }
  });
});

describe('revocation', () => {
  test("a revoked site's stream is cut at once and all its calls are refused", async () => {
    const agent = await enrol('sus');
    const client = gatewayClient(agent);
    hub.assignments.set('sus', [assignment('heart')]);
    try {
      const stream = openStream(client);
      stream.hello();
      await eventually(() => stream.sets.length === 1, 5_000, 'the stream');

      await cluster.controlPlane.kubectl(['patch', 'site', 'sus', '--type=merge', '-p', '{"spec":{"revoked":true}}']);
      await eventually(() => stream.ended !== undefined, 5_000, 'the stream to be cut');
      expect(stream.ended).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/revoked/) });
      // The trailer tells the agent that this refusal is final.
      expect(stream.ended!.metadata.get('flotilla-refusal')).toEqual(['site-revoked']);
      expect(hub.sessions.get('sus')).toBeUndefined();

      const again = openStream(client);
      again.hello();
      await eventually(() => again.ended !== undefined, 5_000, 'the refusal');
      expect(again.ended).toMatchObject({ code: status.PERMISSION_DENIED });
      expect(again.ended!.metadata.get('flotilla-refusal')).toEqual(['site-revoked']);
      const key = await generateKeyPair();
      const csr = await createCsr({ role: 'client', namespace: 'cardiology', job: 'heart', site: 'sus' }, key);
      const signing = await sign(client, 'cardiology', 'heart', csr).catch((err: ServiceError) => err);
      expect(signing).toMatchObject({ code: status.PERMISSION_DENIED });
      expect((signing as ServiceError).metadata.get('flotilla-refusal')).toEqual(['site-revoked']);
      const renewal = await createCsr({ role: 'site-agent', site: 'sus' }, key);
      await expect(unary((cb) => client.renewCertificate({ csrPem: renewal }, cb))).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
      // Nor can it enrol again.
      const { token } = await hub.issueToken('sus', 600);
      await expect(enrollCall(token, renewal)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    } finally {
      client.close();
    }
  });

  test('a cordoned site keeps its stream', async () => {
    const agent = await enrol('unn');
    const client = gatewayClient(agent);
    try {
      const stream = openStream(client);
      stream.hello();
      await eventually(() => stream.sets.length === 1, 5_000, 'the stream');
      await cluster.controlPlane.kubectl(['patch', 'site', 'unn', '--type=merge', '-p', '{"spec":{"cordoned":true}}']);
      await eventually(() => hub.sites.get('unn')?.spec.cordoned === true, 5_000, 'the cache to see the cordon');
      await new Promise((r) => setTimeout(r, 500));
      expect(stream.ended).toBeUndefined();
      expect(hub.sessions.get('unn')).toBeDefined();
      stream.call.end();
    } finally {
      client.close();
    }
  });
});

describe('connections in their TLS handshake', () => {
  test('idle TCP connections at both ports are bounded per address and closed at their deadline; a site still enrols and connects meanwhile', async () => {
    const floods = await Promise.all([idleTcp(`127.0.0.1:${hub.ports.main}`, 300), idleTcp(`127.0.0.1:${hub.ports.enrollment}`, 300)]);
    const opened = Date.now();
    try {
      // The oldest beyond the bound per address are closed as they are accepted.
      await eventually(() => floods.every((f) => f.opened - f.closedByServer() <= HANDSHAKE_BOUNDS.perAddress), 10_000, 'the bound per address holds');
      const held = floods.map((f) => f.opened - f.closedByServer());
      const agent = await enrol('unn');
      const client = gatewayClient(agent);
      const stream = openStream(client);
      stream.hello();
      await eventually(() => hub.sessions.get('unn') !== undefined, 10_000, 'the enrolled site connects during the flood');
      stream.call.end();
      client.close();
      await eventually(() => floods.every((f) => f.closedByServer() === f.opened), HANDSHAKE_BOUNDS.deadlineMs + 5_000, 'every idle connection closed by its deadline');
      process.stdout.write(`gateway handshake flood: 2 x 300 idle connections, held ${held.join(', ')} once accepted, all closed after ${((Date.now() - opened) / 1000).toFixed(1)} s\n`);
    } finally {
      floods.forEach((f) => f.release());
    }
  });
});
