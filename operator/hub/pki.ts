/**
 * The hub's certificates. The root CA lives in a Secret in the operator's namespace; each job has
 * its own issuing CA (path length 0) in a Secret beside the job. A job's aggregator and its clients
 * trust that job's anchor (the issuing CA's self-signed twin, see CertificateAuthority.anchorPem)
 * and so only each other: another job's client or aggregator fails at the handshake. Keys of site
 * agents and client pods are generated at the site: the hub signs their CSRs. The aggregator's and
 * the gateway's keys are generated here, where those servers run.
 */
import type { KubeConfig, V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { API_VERSION } from '../api/federatedjob.js';
import { createCertificateAuthority, loadCertificateAuthority, type CertificateAuthority } from '../pki/ca.js';
import { signCsr } from '../pki/csr.js';
import type { Identity } from '../pki/identity.js';
import { generateKeyPair } from '../pki/keys.js';
import { notAfterOf } from '../pki/x509.js';
import { isAlreadyExists, isConflict, isNotFound, kubeRequest } from '../kube/request.js';

export const ROOT_SECRET = 'flotilla-ca';

/** The Secret holding a job's issuing CA, in the job's namespace. */
export function jobCaSecretName(job: string): string {
  return `${job}-flotilla-ca`;
}

/** A FederatedJob as the PKI needs it: where it lives and which incarnation (its uid) it is. */
export interface JobRef {
  namespace: string;
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
  /** The operator's namespace: where the root CA Secret is. */
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
    private readonly root: CertificateAuthority,
  ) {}

  /**
   * Loads the root CA from its Secret, creating it on the very first start. Several operator
   * replicas may start at once: one create wins, the others read the winner's.
   */
  static async open(options: HubPkiOptions): Promise<HubPki> {
    const { kc, namespace } = options;
    let secret = await readSecret(kc, namespace, ROOT_SECRET);
    if (!secret) {
      const ca = await createCertificateAuthority({
        commonName: 'Flotilla hub root CA',
        validDays: options.rootValidDays ?? 3650,
      });
      secret = await createSecret(kc, caSecret(ROOT_SECRET, namespace, ca));
    }
    const { cert, key } = caPemsOf(secret, `${namespace}/${ROOT_SECRET}`);
    return new HubPki(options, await loadCertificateAuthority(cert, key));
  }

  rootCa(): CertificateAuthority {
    return this.root;
  }

  /** The job's issuing CA, created (once, race-safely) in the job's namespace, owned by the job. */
  jobCa(job: JobRef): Promise<CertificateAuthority> {
    const key = `${job.namespace}/${job.name}/${job.uid}`;
    let ca = this.jobCas.get(key);
    if (!ca) {
      ca = this.loadOrCreateJobCa(job);
      this.jobCas.set(key, ca);
      // A failure is not remembered: the next caller tries again.
      ca.catch(() => this.jobCas.delete(key));
    }
    return ca;
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

  /** The site gateway's server certificate, issued by the root, which site agents pin. */
  async issueGatewayCertificate(dnsNames: string[], ipAddresses: string[] = []): Promise<ServerCertificate> {
    const key = await generateKeyPair();
    const certificatePem = await this.root.issue({
      dnsNames,
      ipAddresses,
      publicKey: key.publicKeyPem,
      validSeconds: this.options.serverValidSeconds ?? 90 * DAY_SECONDS,
      usage: 'server',
    });
    return { privateKeyPem: key.privateKeyPem, certificatePem, caPem: this.root.certPem, notAfter: notAfterOf(certificatePem) };
  }

  /** A site agent's certificate for spiffe://flotilla.dev/site/<site>; it trusts the root to reach the hub. */
  async signSiteAgentCsr(site: string, csrPem: string): Promise<IssuedCertificate> {
    const identity: Identity = { role: 'site-agent', site };
    const validSeconds = this.options.siteAgentValidSeconds ?? 30 * DAY_SECONDS;
    const certificatePem = await signCsr(this.root, csrPem, { expectedIdentity: identity, validSeconds });
    return { certificatePem, caPem: this.root.certPem, notAfter: notAfterOf(certificatePem) };
  }

  /**
   * A client pod's certificate for spiffe://flotilla.dev/ns/<ns>/job/<job>/site/<site>, issued by
   * the job's CA (the chain carries that CA); caPem is the job's anchor, to verify the aggregator by.
   */
  async signClientCsr(job: JobRef, site: string, csrPem: string): Promise<IssuedCertificate> {
    const ca = await this.jobCa(job);
    const identity: Identity = { role: 'client', namespace: job.namespace, job: job.name, site };
    const validSeconds = this.options.clientValidSeconds ?? 7 * DAY_SECONDS;
    const certificatePem = await signCsr(ca, csrPem, { expectedIdentity: identity, validSeconds });
    return { certificatePem, caPem: ca.anchorPem, notAfter: notAfterOf(certificatePem) };
  }

  private async loadOrCreateJobCa(job: JobRef): Promise<CertificateAuthority> {
    const { kc } = this.options;
    const name = jobCaSecretName(job.name);
    const where = `${job.namespace}/${name}`;
    let secret = await readSecret(kc, job.namespace, name);
    if (secret && !ownedBy(secret, job)) {
      // Someone else's Secret of the name is theirs: never replaced (the workload reports the conflict).
      if (!ownedByEarlier(secret, job)) throw new Error(`${where} exists and is not this job's: the operator leaves it untouched`);
      // Left over from an earlier job of the same name, not yet garbage collected.
      await kubeRequest(kc, {
        method: 'DELETE',
        path: secretPath(job.namespace, name),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: secret.metadata!.uid! } },
      }).catch((err: unknown) => {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      });
      secret = undefined;
    }
    if (!secret) {
      const ca = await this.root.issueIntermediate({
        // Unique per job (OpenSSL finds issuers by name) and within the 64 characters of a common name.
        commonName: `Flotilla job ${job.uid}`,
        validDays: this.options.jobCaValidDays ?? 365,
      });
      secret = await createSecret(kc, caSecret(name, job.namespace, ca, jobOwner(job)));
      if (!ownedBy(secret, job)) throw new Error(`${where} belongs to another FederatedJob; it will be replaced on the next try`);
    }
    const { cert, key, anchor } = caPemsOf(secret, where);
    try {
      if (!anchor) throw new Error('it has no anchor.crt');
      return await loadCertificateAuthority(cert, key, { rootPem: this.root.certPem, anchorPem: anchor });
    } catch (err) {
      throw new Error(`${where} does not hold an issuing CA of this hub (${(err as Error).message}); delete it to have it made again`, {
        cause: err,
      });
    }
  }
}

export function jobOwner(job: JobRef): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: 'FederatedJob', name: job.name, uid: job.uid, controller: true, blockOwnerDeletion: true };
}

function ownedBy(secret: V1Secret, job: JobRef): boolean {
  return (secret.metadata?.ownerReferences ?? []).some((o) => o.kind === 'FederatedJob' && o.uid === job.uid);
}

function ownedByEarlier(secret: V1Secret, job: JobRef): boolean {
  return (secret.metadata?.ownerReferences ?? []).some((o) => o.kind === 'FederatedJob' && o.controller && o.name === job.name);
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
function caSecret(name: string, namespace: string, ca: CertificateAuthority, owner?: V1OwnerReference): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'flotilla-operator', 'app.kubernetes.io/component': 'pki' },
      ...(owner ? { ownerReferences: [owner] } : {}),
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
