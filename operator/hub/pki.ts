/**
 * The hub's certificates, in two trust domains that share nothing (docs/security.md):
 *
 * - The site CA (Secret flotilla-site-ca) signs the site gateway's server certificate and the site
 *   agents' certificates, nothing else. Agents pin it to reach the hub; the gateway accepts only
 *   agents it signed.
 * - The job root (Secret flotilla-job-ca) signs one issuing CA per FederatedJob, name-constrained
 *   to that job's trust domain (identity.ts); each job CA signs its aggregator's and its sites'
 *   clients' certificates. A job's aggregator and clients trust that job's anchor (the issuing CA's
 *   self-signed twin, see CertificateAuthority.anchorPem) and so only each other.
 *
 * Every private key of a CA lives in the operator's namespace, which tenants cannot read; a job's
 * namespace gets only its anchor (in the aggregator's TLS Secret). Keys of site agents and client
 * pods are generated at the site: the hub signs their CSRs. The aggregator's and the gateway's keys
 * are generated here, where those servers are configured.
 */
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { createCertificateAuthority, loadCertificateAuthority, type CertificateAuthority } from '../pki/ca.js';
import { signCsr } from '../pki/csr.js';
import { JOB_DOMAINS, jobTrustDomain, TRUST_DOMAIN, type Identity } from '../pki/identity.js';
import { generateKeyPair } from '../pki/keys.js';
import { signRevocationList, type RevokedSite } from '../pki/revocation-list.js';
import { notAfterOf } from '../pki/x509.js';
import { isAlreadyExists, isNotFound, kubeRequest } from '../kube/request.js';

export const SITE_CA_SECRET = 'flotilla-site-ca';
export const JOB_ROOT_SECRET = 'flotilla-job-ca';
/** The label on each job CA's Secret naming the job's uid (the Secret cannot be owned across namespaces). */
export const JOB_UID_LABEL = 'flotilla.dev/job-uid';
export const JOB_CA_COMPONENT = 'job-ca';

/** The Secret holding a job's issuing CA, in the operator's namespace: one per job incarnation. */
export function jobCaSecretName(job: JobRef): string {
  return `flotilla-job-ca-${job.uid}`;
}

/** A FederatedJob as the PKI needs it: where it lives and which incarnation (its uid) it is. */
export interface JobRef {
  namespace: string;
  name: string;
  uid: string;
}

/** A Site as the PKI needs it: its name and which incarnation (its uid) it is. */
export interface SiteRef {
  name: string;
  uid: string;
}

/** A signed certificate chain (leaf first) and the trust anchor its holder verifies its peer with. */
export interface IssuedCertificate {
  certificatePem: string;
  caPem: string;
  notAfter: Date;
}

/** A server's full credentials: its key was generated here. */
export interface ServerCertificate extends IssuedCertificate {
  privateKeyPem: string;
}

export interface HubPkiOptions {
  kc: KubeConfig;
  /** The operator's namespace: where every CA's Secret is. */
  namespace: string;
  rootValidDays?: number;
  jobCaValidDays?: number;
  siteAgentValidSeconds?: number;
  clientValidSeconds?: number;
  serverValidSeconds?: number;
}

const DAY_SECONDS = 86_400;

export class HubPki {
  private readonly jobCas = new Map<string, Promise<CertificateAuthority>>();

  private constructor(
    private readonly options: HubPkiOptions,
    private readonly site: CertificateAuthority,
    private readonly jobRoot: CertificateAuthority,
  ) {}

  /**
   * Loads both roots from their Secrets, creating each on the very first start. Several operator
   * replicas may start at once: one create wins, the others read the winner's.
   */
  static async open(options: HubPkiOptions): Promise<HubPki> {
    const validDays = options.rootValidDays ?? 3650;
    const [site, jobRoot] = await Promise.all([
      openRoot(options, SITE_CA_SECRET, () => createCertificateAuthority({ commonName: 'Flotilla site CA', validDays, permittedUriHosts: [TRUST_DOMAIN] })),
      openRoot(options, JOB_ROOT_SECRET, () =>
        createCertificateAuthority({ commonName: 'Flotilla job root CA', validDays, permittedUriHosts: [`.${JOB_DOMAINS}`] }),
      ),
    ]);
    return new HubPki(options, site, jobRoot);
  }

  /** The site CA: what site agents pin, and what the gateway takes agents' certificates from. */
  siteCa(): CertificateAuthority {
    return this.site;
  }

  /** The root of every job CA: trusted by no verifier, it only signs job CAs. */
  jobRootCa(): CertificateAuthority {
    return this.jobRoot;
  }

  /** The job's issuing CA, created once (race-safely) in the operator's namespace. */
  jobCa(job: JobRef): Promise<CertificateAuthority> {
    let ca = this.jobCas.get(job.uid);
    if (!ca) {
      ca = this.loadOrCreateJobCa(job);
      this.jobCas.set(job.uid, ca);
      // A failure is not remembered: the next caller tries again.
      ca.catch(() => this.jobCas.delete(job.uid));
    }
    return ca;
  }

  /** Removes a deleted job's CA: its key signs nothing more, and what it signed expires. */
  async deleteJobCa(job: JobRef): Promise<void> {
    this.jobCas.delete(job.uid);
    await kubeRequest(this.options.kc, { method: 'DELETE', path: secretPath(this.options.namespace, jobCaSecretName(job)) }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  /** The aggregator's server certificate, issued by its job's CA; caPem is the job's anchor. */
  async issueAggregatorCertificate(job: JobRef, dnsNames: string[], ipAddresses: string[] = []): Promise<ServerCertificate> {
    const ca = await this.jobCa(job);
    const key = await generateKeyPair();
    const certificatePem = await ca.issue({
      identity: { role: 'aggregator', namespace: job.namespace, job: job.name },
      dnsNames,
      ipAddresses,
      publicKey: key.publicKeyPem,
      validSeconds: this.options.serverValidSeconds ?? 90 * DAY_SECONDS,
      usage: 'server',
    });
    return { privateKeyPem: key.privateKeyPem, certificatePem, caPem: ca.anchorPem, notAfter: notAfterOf(certificatePem) };
  }

  /** The site gateway's server certificate (spiffe://flotilla.dev/hub), issued by the site CA, which site agents pin. */
  async issueGatewayCertificate(dnsNames: string[], ipAddresses: string[] = []): Promise<ServerCertificate> {
    const key = await generateKeyPair();
    const certificatePem = await this.site.issue({
      identity: { role: 'hub' },
      dnsNames,
      ipAddresses,
      publicKey: key.publicKeyPem,
      validSeconds: this.options.serverValidSeconds ?? 90 * DAY_SECONDS,
      usage: 'server',
    });
    return { privateKeyPem: key.privateKeyPem, certificatePem, caPem: this.site.certPem, notAfter: notAfterOf(certificatePem) };
  }

  /** A site agent's certificate for spiffe://flotilla.dev/site/<site>, naming the Site's uid; it pins the site CA. */
  async signSiteAgentCsr(site: SiteRef, csrPem: string): Promise<IssuedCertificate> {
    const identity: Identity = { role: 'site-agent', site: site.name };
    const validSeconds = this.options.siteAgentValidSeconds ?? 30 * DAY_SECONDS;
    const certificatePem = await signCsr(this.site, csrPem, { expectedIdentity: identity, validSeconds, siteUid: site.uid });
    return { certificatePem, caPem: this.site.certPem, notAfter: notAfterOf(certificatePem) };
  }

  /**
   * A client pod's certificate for spiffe://<job>.<ns>.jobs.flotilla.dev/site/<site>, naming the
   * Site's uid, issued by the job's CA (the chain carries that CA); caPem is the job's anchor, to
   * verify the aggregator by.
   */
  async signClientCsr(job: JobRef, site: SiteRef, csrPem: string): Promise<IssuedCertificate> {
    const ca = await this.jobCa(job);
    const identity: Identity = { role: 'client', namespace: job.namespace, job: job.name, site: site.name };
    const validSeconds = this.options.clientValidSeconds ?? 7 * DAY_SECONDS;
    const certificatePem = await signCsr(ca, csrPem, { expectedIdentity: identity, validSeconds, siteUid: site.uid });
    return { certificatePem, caPem: ca.anchorPem, notAfter: notAfterOf(certificatePem) };
  }

  /** The revoked sites, signed for the job's aggregator by the job's CA (pki/revocation-list.ts). */
  async signRevocations(job: JobRef, sites: RevokedSite[], now = new Date()): Promise<string> {
    const ca = await this.jobCa(job);
    return signRevocationList(ca.keyPem, { namespace: job.namespace, job: job.name, issuedAt: now.toISOString(), sites });
  }

  private async loadOrCreateJobCa(job: JobRef): Promise<CertificateAuthority> {
    const { kc, namespace } = this.options;
    const name = jobCaSecretName(job);
    const where = `${namespace}/${name}`;
    let secret = await readSecret(kc, namespace, name);
    if (!secret) {
      const ca = await this.jobRoot.issueIntermediate({
        // Unique per job (OpenSSL finds issuers by name) and within the 64 characters of a common name.
        commonName: `Flotilla job ${job.uid}`,
        validDays: this.options.jobCaValidDays ?? 365,
        permittedUriHosts: [jobTrustDomain(job.namespace, job.name)],
      });
      const labels = { 'flotilla.dev/job': job.name, 'flotilla.dev/job-namespace': job.namespace, [JOB_UID_LABEL]: job.uid };
      secret = await createSecret(kc, caSecret(name, namespace, ca, JOB_CA_COMPONENT, labels));
    }
    const { cert, key, anchor } = caPemsOf(secret, where);
    try {
      if (!anchor) throw new Error('it has no anchor.crt');
      return await loadCertificateAuthority(cert, key, { rootPem: this.jobRoot.certPem, anchorPem: anchor });
    } catch (err) {
      throw new Error(`${where} does not hold a job CA of this hub (${(err as Error).message}); delete it to have it made again`, { cause: err });
    }
  }
}

async function openRoot(options: HubPkiOptions, name: string, create: () => Promise<CertificateAuthority>): Promise<CertificateAuthority> {
  const { kc, namespace } = options;
  let secret = await readSecret(kc, namespace, name);
  if (!secret) secret = await createSecret(kc, caSecret(name, namespace, await create(), 'pki'));
  const { cert, key } = caPemsOf(secret, `${namespace}/${name}`);
  return loadCertificateAuthority(cert, key);
}

const secretPath = (namespace: string, name = '') =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets${name ? `/${encodeURIComponent(name)}` : ''}`;

async function readSecret(kc: KubeConfig, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await kubeRequest<V1Secret>(kc, { method: 'GET', path: secretPath(namespace, name) });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Creates the Secret; if another operator created it first, theirs is the one. */
async function createSecret(kc: KubeConfig, secret: V1Secret): Promise<V1Secret> {
  const namespace = secret.metadata!.namespace!;
  try {
    return await kubeRequest<V1Secret>(kc, { method: 'POST', path: secretPath(namespace), body: secret });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    return kubeRequest<V1Secret>(kc, { method: 'GET', path: secretPath(namespace, secret.metadata!.name!) });
  }
}

/**
 * kubernetes.io/tls with ca.crt, the shape cert-manager uses: tls.crt the CA, ca.crt its root; an
 * issuing CA also keeps its anchor (anchor.crt).
 */
function caSecret(name: string, namespace: string, ca: CertificateAuthority, component: string, labels: Record<string, string> = {}): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'flotilla-operator', 'app.kubernetes.io/component': component, ...labels },
    },
    stringData: {
      'tls.crt': ca.certPem,
      'tls.key': ca.keyPem,
      'ca.crt': ca.rootPem,
      ...(ca.anchorPem !== ca.certPem ? { 'anchor.crt': ca.anchorPem } : {}),
    },
  };
}

function caPemsOf(secret: V1Secret, where: string): { cert: string; key: string; anchor?: string } {
  const text = (field: string) => {
    const value = secret.data?.[field];
    return value ? Buffer.from(value, 'base64').toString('utf8') : undefined;
  };
  const [cert, key, anchor] = [text('tls.crt'), text('tls.key'), text('anchor.crt')];
  if (!cert || !key) throw new Error(`Secret ${where} lacks tls.crt or tls.key`);
  return { cert, key, ...(anchor ? { anchor } : {}) };
}
