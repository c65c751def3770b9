/**
 * The gateway's certificate calls: enrolment with a join token, a client pod's certificate for a
 * job assigned to the calling site, and the renewal of the agent's own certificate.
 */
import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { MAX_AGENT_VERSION, printable } from '../../api/bounds.js';
import { CsrRefusedError } from '../../pki/csr.js';
import type { Logger } from '../../log.js';
import type { AssignmentSource } from '../contracts.js';
import { JoinTokenRefused, type JoinTokens } from '../join-tokens.js';
import type { HubPki, IssuedCertificate } from '../pki.js';
import { GatewayRefusal, toStatus, type SiteAdmission } from './admission.js';
import type { SignedCertificate, SiteEnrollmentHandlers, SiteGatewayHandlers } from '../../sitelink/proto.js';

function signed(issued: IssuedCertificate): SignedCertificate {
  return { certificatePem: issued.certificatePem, caPem: issued.caPem, notAfterUnixMs: issued.notAfter.getTime() };
}

/** CSR and token refusals are the caller's to fix; other failures are the hub's. */
function refusalOf(err: unknown): unknown {
  if (err instanceof CsrRefusedError) return new GatewayRefusal(status.INVALID_ARGUMENT, err.message);
  if (err instanceof JoinTokenRefused) return new GatewayRefusal(status.UNAUTHENTICATED, err.message);
  return err;
}

function unary<Req, Res>(log: Logger, method: string, handle: (call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    handle(call).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const refusal = refusalOf(err);
        if (refusal instanceof GatewayRefusal) log.warn('call refused', { method, reason: refusal.message });
        else log.error('call failed', { method, error: (refusal as Error).message });
        callback(toStatus(refusal));
      },
    );
  };
}

export interface CertificateServices {
  pki: HubPki;
  joinTokens: JoinTokens;
  admission: SiteAdmission;
  assignments: AssignmentSource;
  /** An agent enrolled: the site is enrolled from now on, though its agent has not connected yet. */
  onEnrolled(site: string): void;
  log: Logger;
}

export function enrollmentHandlers({ pki, joinTokens, admission, onEnrolled, log }: CertificateServices): SiteEnrollmentHandlers {
  return {
    Enroll: unary(log, 'Enroll', async (call) => {
      const { token, csrPem, agentVersion } = call.request;
      let issued: IssuedCertificate | undefined;
      const { site } = await joinTokens.consume(token, async (site) => {
        admission.admit(site);
        issued = await pki.signSiteAgentCsr(site, csrPem);
      });
      onEnrolled(site);
      log.info('site enrolled', { site, agentVersion: printable(agentVersion, MAX_AGENT_VERSION), certificateExpiry: issued!.notAfter.toISOString() });
      return { site, certificate: signed(issued!) };
    }),
  };
}

export function certificateHandlers(
  { pki, admission, assignments, log }: CertificateServices,
): Pick<SiteGatewayHandlers, 'SignClientCertificate' | 'RenewCertificate'> {
  return {
    SignClientCertificate: unary(log, 'SignClientCertificate', async (call) => {
      const site = admission.siteOf(call);
      const { namespace, job, csrPem } = call.request;
      const assignment = assignments.assignmentsFor(site).find((a) => a.namespace === namespace && a.job === job);
      if (!assignment) {
        throw new GatewayRefusal(status.PERMISSION_DENIED, `job ${namespace}/${job} is not assigned to site ${site}`);
      }
      const issued = await pki.signClientCsr({ namespace, name: job, uid: assignment.jobUid }, site, csrPem);
      log.info('client certificate signed', { site, namespace, job, notAfter: issued.notAfter.toISOString() });
      return signed(issued);
    }),
    RenewCertificate: unary(log, 'RenewCertificate', async (call) => {
      const site = admission.siteOf(call);
      const issued = await pki.signSiteAgentCsr(site, call.request.csrPem);
      log.info('site agent certificate renewed', { site, notAfter: issued.notAfter.toISOString() });
      return signed(issued);
    }),
  };
}
