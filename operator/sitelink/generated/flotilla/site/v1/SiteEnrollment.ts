// Original file: proto/flotilla/site/v1/site.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EnrollRequest as _flotilla_site_v1_EnrollRequest, EnrollRequest__Output as _flotilla_site_v1_EnrollRequest__Output } from '../../../flotilla/site/v1/EnrollRequest.js';
import type { EnrollResponse as _flotilla_site_v1_EnrollResponse, EnrollResponse__Output as _flotilla_site_v1_EnrollResponse__Output } from '../../../flotilla/site/v1/EnrollResponse.js';

/**
 * Served on the gateway's enrolment port: server-authenticated TLS (the agent pins the hub CA from
 * its join bundle); the join token authenticates the agent.
 */
export interface SiteEnrollmentClient extends grpc.Client {
  Enroll(argument: _flotilla_site_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _flotilla_site_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _flotilla_site_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _flotilla_site_v1_EnrollRequest, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _flotilla_site_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _flotilla_site_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _flotilla_site_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _flotilla_site_v1_EnrollRequest, callback: grpc.requestCallback<_flotilla_site_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Served on the gateway's enrolment port: server-authenticated TLS (the agent pins the hub CA from
 * its join bundle); the join token authenticates the agent.
 */
export interface SiteEnrollmentHandlers extends grpc.UntypedServiceImplementation {
  Enroll: grpc.handleUnaryCall<_flotilla_site_v1_EnrollRequest__Output, _flotilla_site_v1_EnrollResponse>;
  
}

export interface SiteEnrollmentDefinition extends grpc.ServiceDefinition {
  Enroll: MethodDefinition<_flotilla_site_v1_EnrollRequest, _flotilla_site_v1_EnrollResponse, _flotilla_site_v1_EnrollRequest__Output, _flotilla_site_v1_EnrollResponse__Output>
}
