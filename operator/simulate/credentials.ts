import path from 'node:path';
import { createCertificateAuthority } from '../pki/ca.js';
import { writeTlsFiles } from '../pki/files.js';
import { generateKeyPair } from '../pki/keys.js';
import { jobTrustDomain, type Identity } from '../pki/identity.js';

/**
 * A throwaway PKI for one simulation, with the trust model of a real deployment: a root, an issuing
 * CA for the job, and per role a key made for that role alone and a certificate carrying its
 * identity. Each side trusts only the job's CA, so the aggregator accepts only this job's clients.
 * Each role's folder has the layout of a mounted TLS Secret (tls.key, tls.crt, ca.crt).
 */
export interface SimulationCredentials {
  aggregatorDir: string;
  siteDirs: Map<string, string>;
}

const DAY_SECONDS = 86_400;

export async function issueSimulationCredentials(
  dir: string,
  job: { namespace: string; name: string },
  sites: string[],
): Promise<SimulationCredentials> {
  const root = await createCertificateAuthority({ commonName: 'flotilla simulate', validDays: 1 });
  const jobCa = await root.issueIntermediate({
    commonName: `flotilla job ${job.namespace}/${job.name}`,
    validDays: 1,
    permittedUriHosts: [jobTrustDomain(job.namespace, job.name)],
  });
  const write = async (name: string, identity: Identity, server: boolean): Promise<string> => {
    const roleDir = path.join(dir, name);
    const key = await generateKeyPair();
    const certPem = await jobCa.issue({
      identity,
      publicKey: key.keys.publicKey,
      validSeconds: DAY_SECONDS,
      ...(server ? { usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] } : { usage: 'client' }),
    });
    await writeTlsFiles(roleDir, { keyPem: key.privateKeyPem, certPem, caPem: jobCa.anchorPem });
    return roleDir;
  };
  const aggregatorDir = await write('aggregator', { role: 'aggregator', namespace: job.namespace, job: job.name }, true);
  const siteDirs = new Map<string, string>();
  for (const site of sites) {
    siteDirs.set(site, await write(`site-${site}`, { role: 'client', namespace: job.namespace, job: job.name, site }, false));
  }
  return { aggregatorDir, siteDirs };
}
