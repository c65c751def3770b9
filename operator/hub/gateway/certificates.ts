/**
 * The gateway's certificate calls: enrolment with a join token, a client pod's certificate for a
 * job assigned to the calling site, and the renewal of the agent's own certificate.
 */
import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { MAX_AGENT_VERSION, printable } from '../../api/bounds.js';
import { CsrRefusedError } from '../../pki/csr.js';
import type { Logger } from '../../log.js';
import type { HubAuditLog } from '../audit.js';
import type { AssignmentSource } from '../contracts.js';
import { JoinTokenRefused, type JoinTokens } from '../join-tokens.js';
import type { HubPki, IssuedCertificate } from '../pki.js';
import { GatewayRefusal, toStatus, type SiteAdmission } from './admission.js';
import { peerAddress, type EnrolmentLimits } from './enrolment-limits.js';
import type { SignedCertificate, SiteEnrollmentHandlers, SiteGatewayHandlers } from '../../sitelink/proto.js';

/**
 * What a caller is told of any bad token: the same words whether its id is unknown, spent, expired
 * or its secret wrong, so that guessing ids teaches nothing. The hub's log has the reason.
 */
export const TOKEN_REFUSED = 'the join token was refused (unknown, already used, expired or mistyped): ask the hub for a new join bundle';

function signed(issued: IssuedCertificate): SignedCertificate {
  return { certificatePem: issued.certificatePem, caPem: issued.caPem, notAfterUnixMs: issued.notAfter.getTime() };
}

/** CSR and token refusals are the caller's to fix; other failures are the hub's. */
function refusalOf(err: unknown): unknown {
  if (err instanceof CsrRefusedError) return new GatewayRefusal(status.INVALID_ARGUMENT, err.message);
  if (err instanceof JoinTokenRefused) return new GatewayRefusal(status.UNAUTHENTICATED, TOKEN_REFUSED);
  return err;
}

function unary<Req, Res>(log: Logger, method: string, handle: (call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    handle(call).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const refusal = refusalOf(err);
        const reason = err instanceof JoinTokenRefused ? err.message : (refusal as Error).message;
        if (refusal instanceof GatewayRefusal) log.warn('call refused', { method, peer: call.getPeer(), reason });
        else log.error('call failed', { method, error: reason });
        callback(toStatus(refusal));
      },
    );
  };
}

export interface CertificateServices {
  pki: HubPki;
  limits: EnrolmentLimits;
  joinTokens: JoinTokens;
  admission: SiteAdmission;
  assignments: AssignmentSource;
  /** An agent enrolled: the site is enrolled from now on, though its agent has not connected yet. */
  onEnrolled(site: { name: string; uid: string }): void;
  /** Every certificate handed out is recorded here first. */
  audit: HubAuditLog;
  log: Logger;
}

export function enrollmentHandlers({ pki, limits, joinTokens, admission, onEnrolled, audit, log }: CertificateServices): SiteEnrollmentHandlers {
  return {
    Enroll: unary(log, 'Enroll', async (call) => {
      // Before anything costs an API server read.
      const limited = limits.take(peerAddress(call.getPeer()));
      if (limited) throw new GatewayRefusal(status.RESOURCE_EXHAUSTED, limited);
      const { token, csrPem, agentVersion } = call.request;
      let issued: IssuedCertificate | undefined;
      const site = await joinTokens.consume(token, async (site) => {
        // The caller holds the token's secret from here on: it may be told what is wrong.
        if (admission.admit(site.name) !== site.uid) {
          throw new GatewayRefusal(status.UNAUTHENTICATED, `this join token was for an earlier Site ${site.name}, since deleted: ask the hub for the new Site's join bundle`);
        }
        issued = await pki.signSiteAgentCsr(site, csrPem);
      });
      const version = printable(agentVersion, MAX_AGENT_VERSION);
      // The token is spent: a trail that cannot be written costs this site a new bundle, never an unrecorded certificate.
      await audit.siteEnrolled(site, issued!.certificatePem, version);
      onEnrolled(site);
      log.info('site enrolled', { site: site.name, siteUid: site.uid, agentVersion: version, certificateExpiry: issued!.notAfter.toISOString() });
      return { site: site.name, certificate: signed(issued!) };
    }),
  };
}

export function certificateHandlers(
  { pki, admission, assignments, audit, log }: CertificateServices,
): Pick<SiteGatewayHandlers, 'SignClientCertificate' | 'RenewCertificate'> {
  return {
    SignClientCertificate: unary(log, 'SignClientCertificate', async (call) => {
      const site = admission.siteOf(call);
      const { namespace, job, csrPem } = call.request;
      const assignment = assignments.assignmentFor(site.name, `${namespace}/${job}`);
      if (!assignment) {
        throw new GatewayRefusal(status.PERMISSION_DENIED, `job ${namespace}/${job} is not assigned to site ${site.name}`);
      }
      const jobRef = { namespace, name: job, uid: assignment.jobUid };
      const issued = await pki.signClientCsr(jobRef, site, csrPem);
      await audit.clientCertificateIssued(jobRef, site, issued.certificatePem);
      log.info('client certificate signed', { site: site.name, namespace, job, notAfter: issued.notAfter.toISOString() });
      return signed(issued);
    }),
    RenewCertificate: unary(log, 'RenewCertificate', async (call) => {
      const site = admission.siteOf(call);
      const issued = await pki.signSiteAgentCsr(site, call.request.csrPem);
      await audit.siteCertificateRenewed(site, issued.certificatePem);
      log.info('site agent certificate renewed', { site: site.name, notAfter: issued.notAfter.toISOString() });
      return signed(issued);
    }),
  };
}
