/** Sites for the secure-aggregation benchmarks: a real job PKI, one certificate and SiteRound per site. */
import { randomBytes } from 'node:crypto';
import { createCertificateAuthority } from '../operator/pki/ca.js';
import { jobTrustDomain } from '../operator/pki/identity.js';
import { generateKeyPair } from '../operator/pki/keys.js';
import type { RoundParams } from '../operator/secagg/params.js';
import { SiteRound } from '../operator/secagg/site-round.js';

export function benchParams(n: number, neighbours: number, threshold: number, length: number): RoundParams {
  return { context: { namespace: 'bench', job: 'secagg', round: 1, nonce: randomBytes(16) }, neighbours, threshold, length, clip: 1, maxSites: Math.max(n, 3) };
}

export async function benchSites(n: number, params: RoundParams): Promise<{ sites: SiteRound[]; caPem: string }> {
  const root = await createCertificateAuthority({ commonName: 'bench root', validDays: 1 });
  const jobCa = await root.issueIntermediate({ commonName: 'bench job', validDays: 1, permittedUriHosts: [jobTrustDomain('bench', 'secagg')] });
  const sites: SiteRound[] = [];
  for (let i = 0; i < n; i++) {
    const site = `site-${i}`;
    const key = await generateKeyPair();
    const certPem = await jobCa.issue({ identity: { role: 'client', namespace: 'bench', job: 'secagg', site }, publicKey: key.keys.publicKey, validSeconds: 3600, usage: 'client' });
    sites.push(new SiteRound(params, site, { keyPem: key.privateKeyPem, certPem }, jobCa.anchorPem));
  }
  return { sites, caPem: jobCa.anchorPem };
}
