/**
 * Enrolment: once, with the join bundle. The agent's key is generated here and stays here; the hub
 * signs a CSR for spiffe://flotilla.dev/site/<site> if the single-use token is good. The gateway's
 * enrolment port must be the hub (spiffe://flotilla.dev/hub) signed by the site CA carried in the
 * bundle, which the agent pins from then on.
 */
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { Backoff } from '../process/backoff.js';
import type { Logger } from '../log.js';
import type { JoinBundle } from '../sitelink/join-bundle.js';
import { SiteEnrollment } from '../sitelink/proto.js';
import { createCsr } from '../pki/csr.js';
import { generateKeyPair } from '../pki/keys.js';
import { expectServer } from '../pki/peer-check.js';
import { checkIdentity, type AgentIdentity } from './agent-identity.js';

/** Failures worth another try: the hub is not there (yet), or asks to slow down. Anything else is final. */
const RETRYABLE = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.INTERNAL, status.RESOURCE_EXHAUSTED]);

export async function enrol(
  bundle: JoinBundle,
  options: { agentVersion: string; log: Logger; backoff?: Backoff; attempts?: number; signal?: AbortSignal },
): Promise<AgentIdentity> {
  const { log, agentVersion, attempts = 20 } = options;
  const backoff = options.backoff ?? new Backoff(1_000, 30_000);
  const key = await generateKeyPair();
  const csrPem = await createCsr({ role: 'site-agent', site: bundle.site }, key);
  const client = new SiteEnrollment(
    bundle.enrollment,
    credentials.createSsl(Buffer.from(bundle.caPem), null, null, { checkServerIdentity: expectServer({ role: 'hub' }, bundle.caPem, 'the site CA') }),
  );
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await new Promise<{ site: string; certificatePem: string; caPem: string }>((resolve, reject) =>
          client.enroll({ token: bundle.token, csrPem, agentVersion }, { deadline: Date.now() + 30_000 }, (err, res) =>
            err || !res?.certificate
              ? reject(err ?? new Error('the hub answered without a certificate'))
              : resolve({ site: res.site, ...res.certificate }),
          ),
        );
        if (response.site !== bundle.site) throw new Error(`the hub enrolled this agent as site ${response.site}, not ${bundle.site}`);
        log.info('enrolled with the hub', { site: bundle.site, hub: bundle.hub });
        return checkIdentity(
          {
            site: bundle.site,
            hub: bundle.hub,
            enrollment: bundle.enrollment,
            // The site CA of the bundle, handed over out of band, is the one pinned.
            caPem: bundle.caPem,
            keyPem: key.privateKeyPem,
            certificatePem: response.certificatePem,
            receivedAt: new Date().toISOString(),
          },
          'the certificate the hub returned',
        );
      } catch (err) {
        const code = (err as Partial<ServiceError>).code;
        if (code === undefined || !RETRYABLE.has(code) || attempt >= attempts || options.signal?.aborted) {
          throw new Error(`enrolment with ${bundle.enrollment} failed: ${(err as Partial<ServiceError>).details ?? (err as Error).message}`, {
            cause: err,
          });
        }
        const wait = backoff.next();
        log.warn('enrolment failed; retrying', { site: bundle.site, error: (err as ServiceError).details, retryInMs: Math.round(wait) });
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  } finally {
    client.close();
  }
}
