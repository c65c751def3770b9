import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AgentHello as _flotilla_site_v1_AgentHello, AgentHello__Output as _flotilla_site_v1_AgentHello__Output } from './flotilla/site/v1/AgentHello.js';
import type { AgentMessage as _flotilla_site_v1_AgentMessage, AgentMessage__Output as _flotilla_site_v1_AgentMessage__Output } from './flotilla/site/v1/AgentMessage.js';
import type { Assignment as _flotilla_site_v1_Assignment, Assignment__Output as _flotilla_site_v1_Assignment__Output } from './flotilla/site/v1/Assignment.js';
import type { AssignmentChanges as _flotilla_site_v1_AssignmentChanges, AssignmentChanges__Output as _flotilla_site_v1_AssignmentChanges__Output } from './flotilla/site/v1/AssignmentChanges.js';
import type { AssignmentSet as _flotilla_site_v1_AssignmentSet, AssignmentSet__Output as _flotilla_site_v1_AssignmentSet__Output } from './flotilla/site/v1/AssignmentSet.js';
import type { AssignmentStatus as _flotilla_site_v1_AssignmentStatus, AssignmentStatus__Output as _flotilla_site_v1_AssignmentStatus__Output } from './flotilla/site/v1/AssignmentStatus.js';
import type { EnrollRequest as _flotilla_site_v1_EnrollRequest, EnrollRequest__Output as _flotilla_site_v1_EnrollRequest__Output } from './flotilla/site/v1/EnrollRequest.js';
import type { EnrollResponse as _flotilla_site_v1_EnrollResponse, EnrollResponse__Output as _flotilla_site_v1_EnrollResponse__Output } from './flotilla/site/v1/EnrollResponse.js';
import type { HubMessage as _flotilla_site_v1_HubMessage, HubMessage__Output as _flotilla_site_v1_HubMessage__Output } from './flotilla/site/v1/HubMessage.js';
import type { JobRef as _flotilla_site_v1_JobRef, JobRef__Output as _flotilla_site_v1_JobRef__Output } from './flotilla/site/v1/JobRef.js';
import type { RenewCertificateRequest as _flotilla_site_v1_RenewCertificateRequest, RenewCertificateRequest__Output as _flotilla_site_v1_RenewCertificateRequest__Output } from './flotilla/site/v1/RenewCertificateRequest.js';
import type { SignClientCertificateRequest as _flotilla_site_v1_SignClientCertificateRequest, SignClientCertificateRequest__Output as _flotilla_site_v1_SignClientCertificateRequest__Output } from './flotilla/site/v1/SignClientCertificateRequest.js';
import type { SignedCertificate as _flotilla_site_v1_SignedCertificate, SignedCertificate__Output as _flotilla_site_v1_SignedCertificate__Output } from './flotilla/site/v1/SignedCertificate.js';
import type { SiteEnrollmentClient as _flotilla_site_v1_SiteEnrollmentClient, SiteEnrollmentDefinition as _flotilla_site_v1_SiteEnrollmentDefinition } from './flotilla/site/v1/SiteEnrollment.js';
import type { SiteGatewayClient as _flotilla_site_v1_SiteGatewayClient, SiteGatewayDefinition as _flotilla_site_v1_SiteGatewayDefinition } from './flotilla/site/v1/SiteGateway.js';
import type { StatusReport as _flotilla_site_v1_StatusReport, StatusReport__Output as _flotilla_site_v1_StatusReport__Output } from './flotilla/site/v1/StatusReport.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  flotilla: {
    site: {
      v1: {
        AgentHello: MessageTypeDefinition<_flotilla_site_v1_AgentHello, _flotilla_site_v1_AgentHello__Output>
        AgentMessage: MessageTypeDefinition<_flotilla_site_v1_AgentMessage, _flotilla_site_v1_AgentMessage__Output>
        Assignment: MessageTypeDefinition<_flotilla_site_v1_Assignment, _flotilla_site_v1_Assignment__Output>
        AssignmentChanges: MessageTypeDefinition<_flotilla_site_v1_AssignmentChanges, _flotilla_site_v1_AssignmentChanges__Output>
        AssignmentSet: MessageTypeDefinition<_flotilla_site_v1_AssignmentSet, _flotilla_site_v1_AssignmentSet__Output>
        AssignmentStatus: MessageTypeDefinition<_flotilla_site_v1_AssignmentStatus, _flotilla_site_v1_AssignmentStatus__Output>
        EnrollRequest: MessageTypeDefinition<_flotilla_site_v1_EnrollRequest, _flotilla_site_v1_EnrollRequest__Output>
        EnrollResponse: MessageTypeDefinition<_flotilla_site_v1_EnrollResponse, _flotilla_site_v1_EnrollResponse__Output>
        HubMessage: MessageTypeDefinition<_flotilla_site_v1_HubMessage, _flotilla_site_v1_HubMessage__Output>
        JobRef: MessageTypeDefinition<_flotilla_site_v1_JobRef, _flotilla_site_v1_JobRef__Output>
        RenewCertificateRequest: MessageTypeDefinition<_flotilla_site_v1_RenewCertificateRequest, _flotilla_site_v1_RenewCertificateRequest__Output>
        SignClientCertificateRequest: MessageTypeDefinition<_flotilla_site_v1_SignClientCertificateRequest, _flotilla_site_v1_SignClientCertificateRequest__Output>
        SignedCertificate: MessageTypeDefinition<_flotilla_site_v1_SignedCertificate, _flotilla_site_v1_SignedCertificate__Output>
        /**
         * Served on the gateway's enrolment port: server-authenticated TLS (the agent pins the hub CA from
         * its join bundle); the join token authenticates the agent.
         */
        SiteEnrollment: SubtypeConstructor<typeof grpc.Client, _flotilla_site_v1_SiteEnrollmentClient> & { service: _flotilla_site_v1_SiteEnrollmentDefinition }
        /**
         * Served on the gateway's main port: mutual TLS with the site agent's certificate, whose identity
         * (spiffe://flotilla.dev/site/<site>) names the site.
         */
        SiteGateway: SubtypeConstructor<typeof grpc.Client, _flotilla_site_v1_SiteGatewayClient> & { service: _flotilla_site_v1_SiteGatewayDefinition }
        StatusReport: MessageTypeDefinition<_flotilla_site_v1_StatusReport, _flotilla_site_v1_StatusReport__Output>
      }
    }
  }
}

