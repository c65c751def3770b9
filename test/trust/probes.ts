/**
 * What the trust suite's attackers hold and do: CAs whose keys they got hold of, raw gRPC calls to
 * the gateway and the aggregators, a fake hub, and a snapshot of everything of the tenants and
 * sites a refused attack must leave as it was.
 */
import { X509Certificate } from 'node:crypto';
import { credentials, Server, ServerCredentials, status, type sendUnaryData, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { Federation, PROTOCOL_VERSION } from '../../operator/federation/proto.js';
import { loadCertificateAuthority, type CertificateAuthority } from '../../operator/pki/ca.js';
import type { Identity } from '../../operator/pki/identity.js';
import { generateKeyPair } from '../../operator/pki/keys.js';
import { SiteGateway, type HubMessage__Output, type SignedCertificate__Output, type SiteGatewayClient } from '../../operator/sitelink/proto.js';
import { eventually } from '../support/eventually.js';
import { OPERATOR_NS, SITES, TENANTS, type TrustWorld } from './environment.js';

export interface Credentials {
  key: string;
  cert: string;
}

const text = (secret: { data?: Record<string, string> }, key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');

async function secretOf(world: TrustWorld, namespace: string, name: string): Promise<{ data?: Record<string, string>; metadata?: { uid?: string } }> {
  return JSON.parse(await world.kubectl('get', 'secret', name, `--namespace=${namespace}`, '--output=json'));
}

/** A root CA of the hub, read with the cluster admin's rights (as if its key had leaked). */
export async function hubRoot(world: TrustWorld, secret: 'flotilla-site-ca' | 'flotilla-job-ca'): Promise<CertificateAuthority> {
  const s = await secretOf(world, OPERATOR_NS, secret);
  return loadCertificateAuthority(text(s, 'tls.crt'), text(s, 'tls.key'));
}

/** A job's issuing CA, read with the cluster admin's rights from the operator's namespace (a tenant cannot). */
export async function leakedJobCa(world: TrustWorld, namespace: string, job: string): Promise<CertificateAuthority> {
  const uid = (await world.kubectl('get', 'federatedjob', job, `--namespace=${namespace}`, '--output=jsonpath={.metadata.uid}')).trim();
  const s = await secretOf(world, OPERATOR_NS, `flotilla-job-ca-${uid}`);
  return loadCertificateAuthority(text(s, 'tls.crt'), text(s, 'tls.key'), { rootPem: text(s, 'ca.crt'), anchorPem: text(s, 'anchor.crt') });
}

/** A key and a certificate `ca` signs for it. */
export async function mint(
  ca: CertificateAuthority,
  identity: Identity,
  options: { usage?: 'client' | 'server'; siteUid?: string } = {},
): Promise<Credentials> {
  const key = await generateKeyPair();
  const usage = options.usage ?? 'client';
  const cert = await ca.issue({
    identity,
    publicKey: key.publicKeyPem,
    validSeconds: 3_600,
    usage,
    ...(usage === 'server' ? { ipAddresses: ['127.0.0.1'] } : {}),
    ...(options.siteUid ? { siteUid: options.siteUid } : {}),
  });
  return { key: key.privateKeyPem, cert };
}

export async function siteUidOf(world: TrustWorld, site: string): Promise<string> {
  return (await world.kubectl('get', 'site', site, '--output=jsonpath={.metadata.uid}')).trim();
}

export async function siteCaPem(world: TrustWorld): Promise<string> {
  return text(await secretOf(world, OPERATOR_NS, 'flotilla-site-ca'), 'tls.crt');
}

/** A gateway client with these credentials, trusting `caPem` for the gateway (straight to its port). */
export function gatewayClient(world: TrustWorld, creds: Credentials, caPem: string): SiteGatewayClient {
  return new SiteGateway(`127.0.0.1:${world.gatewayPort}`, credentials.createSsl(Buffer.from(caPem), Buffer.from(creds.key), Buffer.from(creds.cert)));
}

/** Opens Connect, says hello, and reports after `ms` what came: assignment sets, and how it ended. */
export function tryConnect(client: SiteGatewayClient, ms = 2_000): Promise<{ sets: number; end?: StatusObject }> {
  return new Promise((resolve) => {
    const call = client.connect();
    let sets = 0;
    let end: StatusObject | undefined;
    call.on('data', (_m: HubMessage__Output) => sets++);
    call.on('error', () => undefined);
    call.on('status', (s: StatusObject) => (end = s));
    call.write({ hello: { agentVersion: 'attacker', status: { assignments: [] } } });
    setTimeout(() => {
      call.cancel();
      resolve({ sets, ...(end ? { end } : {}) });
    }, ms);
  });
}

export function unary<T>(invoke: (callback: (err: ServiceError | null, res?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res!))));
}

export const signClient = (client: SiteGatewayClient, namespace: string, job: string, csrPem: string) =>
  unary<SignedCertificate__Output>((cb) => client.signClientCertificate({ namespace, job, csrPem }, { deadline: Date.now() + 10_000 }, cb));

export const renew = (client: SiteGatewayClient, csrPem: string) =>
  unary<SignedCertificate__Output>((cb) => client.renewCertificate({ csrPem }, { deadline: Date.now() + 10_000 }, cb));

/** A site's client certificate for a job, as its agent got it (the client TLS Secret in its namespace). */
export async function clientCredentialsAt(world: TrustWorld, site: (typeof SITES)[number], job: string): Promise<Credentials & { ca: string }> {
  const { namespace } = world.agents[site];
  const list = JSON.parse(
    await world.site.kubectl(['get', 'secrets', `--namespace=${namespace}`, `--selector=flotilla.dev/job=${job},app.kubernetes.io/component=client`, '--output=json']),
  ) as { items: { data?: Record<string, string> }[] };
  const secret = list.items.find((s) => s.data?.['tls.crt']);
  if (!secret) throw new Error(`no client certificate of ${job} at ${site} yet`);
  return { key: text(secret, 'tls.key'), cert: text(secret, 'tls.crt'), ca: text(secret, 'ca.crt') };
}

export async function aggregatorAddress(world: TrustWorld, namespace: string, job: string): Promise<string> {
  return (await world.kubectl('get', 'federatedjob', job, `--namespace=${namespace}`, '--output=jsonpath={.status.aggregatorEndpoint}')).trim();
}

/** A Join call to a job's aggregator with these credentials: the status code it ends with (OK is 0). */
export async function join(address: string, creds: Credentials & { ca: string }): Promise<{ code: status; details: string }> {
  const client = new Federation(address, credentials.createSsl(Buffer.from(creds.ca), Buffer.from(creds.key), Buffer.from(creds.cert)));
  try {
    await unary((cb) => client.join({ protocolVersion: PROTOCOL_VERSION, clientVersion: 'probe' }, { deadline: Date.now() + 5_000 }, cb));
    return { code: status.OK, details: '' };
  } catch (err) {
    return { code: (err as ServiceError).code, details: (err as ServiceError).details };
  } finally {
    client.close();
  }
}

/** A hub that is not the hub: serves the site protocol with a certificate of someone's choosing, and counts its calls. */
export class FakeHub {
  calls = 0;
  port = 0;
  private readonly server = new Server();

  static async start(creds: Credentials): Promise<FakeHub> {
    const hub = new FakeHub();
    const counted = () => hub.calls++;
    hub.server.addService(SiteGateway.service, {
      // An empty set would have the agent remove every client pod it runs.
      Connect: (call: { write(m: unknown): void }) => {
        counted();
        call.write({ assignments: { assignments: [] } });
      },
      SignClientCertificate: (_c: unknown, cb: sendUnaryData<unknown>) => (counted(), cb({ code: status.UNAVAILABLE })),
      RenewCertificate: (_c: unknown, cb: sendUnaryData<unknown>) => (counted(), cb({ code: status.UNAVAILABLE })),
    });
    const serverCredentials = ServerCredentials.createSsl(null, [{ private_key: Buffer.from(creds.key), cert_chain: Buffer.from(creds.cert) }], false);
    hub.port = await new Promise((resolve, reject) => hub.server.bindAsync('127.0.0.1:0', serverCredentials, (err, p) => (err ? reject(err) : resolve(p))));
    return hub;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

export interface Snapshot {
  sites: Record<string, { uid: string; enrolled: boolean; connected: string }>;
  /** Per site namespace: the agent's objects, name to uid. */
  siteObjects: Record<string, Record<string, string>>;
  jobs: Record<string, { uid: string; phase: string }>;
  /** Per tenant namespace: Secrets, name to uid. */
  tenantSecrets: Record<string, Record<string, string>>;
}

/** Everything of the tenants and sites that an attack must leave as it was. */
export async function snapshot(world: TrustWorld): Promise<Snapshot> {
  const sites: Snapshot['sites'] = {};
  for (const s of JSON.parse(await world.kubectl('get', 'sites', '--output=json')).items) {
    const connected = (s.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Connected')?.status ?? '';
    sites[s.metadata.name] = { uid: s.metadata.uid, enrolled: Boolean(s.status?.enrolled), connected };
  }
  const names = (list: { items: { metadata: { name: string; uid: string } }[] }) => Object.fromEntries(list.items.map((i) => [i.metadata.name, i.metadata.uid]));
  const siteObjects: Snapshot['siteObjects'] = {};
  for (const site of SITES) {
    const ns = world.agents[site].namespace;
    siteObjects[ns] = names(JSON.parse(await world.site.kubectl(['get', 'pods,secrets,configmaps', `--namespace=${ns}`, '--selector=app.kubernetes.io/managed-by=flotilla-site-agent', '--output=json'])));
  }
  const jobs: Snapshot['jobs'] = {};
  const tenantSecrets: Snapshot['tenantSecrets'] = {};
  for (const j of JSON.parse(await world.kubectl('get', 'federatedjobs', '--all-namespaces', '--output=json')).items) {
    jobs[`${j.metadata.namespace}/${j.metadata.name}`] = { uid: j.metadata.uid, phase: j.status?.phase ?? '' };
  }
  for (const { namespace } of Object.values(TENANTS)) {
    tenantSecrets[namespace] = names(JSON.parse(await world.kubectl('get', 'secrets', `--namespace=${namespace}`, '--output=json')));
  }
  return { sites, siteObjects, jobs, tenantSecrets };
}

/** Waits until the world is at rest: both agents connected, both jobs' clients made at both sites. */
export async function settled(world: TrustWorld): Promise<Snapshot> {
  await eventually(
    async () => {
      const now = await snapshot(world);
      const connected = SITES.every((s) => now.sites[s]?.connected === 'True');
      const clients = SITES.every((s) => Object.keys(now.siteObjects[world.agents[s].namespace] ?? {}).filter((n) => n.endsWith('-client-tls')).length === 2);
      return connected && clients;
    },
    120_000,
    'both sites connected, each with the client certificates of both jobs',
  );
  return snapshot(world);
}

export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}
