// Original file: proto/flotilla/site/v1/site.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AgentMessage as _flotilla_site_v1_AgentMessage, AgentMessage__Output as _flotilla_site_v1_AgentMessage__Output } from '../../../flotilla/site/v1/AgentMessage.js';
import type { HubMessage as _flotilla_site_v1_HubMessage, HubMessage__Output as _flotilla_site_v1_HubMessage__Output } from '../../../flotilla/site/v1/HubMessage.js';
import type { RenewCertificateRequest as _flotilla_site_v1_RenewCertificateRequest, RenewCertificateRequest__Output as _flotilla_site_v1_RenewCertificateRequest__Output } from '../../../flotilla/site/v1/RenewCertificateRequest.js';
import type { SignClientCertificateRequest as _flotilla_site_v1_SignClientCertificateRequest, SignClientCertificateRequest__Output as _flotilla_site_v1_SignClientCertificateRequest__Output } from '../../../flotilla/site/v1/SignClientCertificateRequest.js';
import type { SignedCertificate as _flotilla_site_v1_SignedCertificate, SignedCertificate__Output as _flotilla_site_v1_SignedCertificate__Output } from '../../../flotilla/site/v1/SignedCertificate.js';

/**
 * Served on the gateway's main port: mutual TLS with the site agent's certificate, whose identity
 * (spiffe://flotilla.dev/site/<site>) names the site.
 */
export interface SiteGatewayClient extends grpc.Client {
  /**
   * The agent's one outbound stream. The first AgentMessage is a hello.
   */
  Connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_flotilla_site_v1_AgentMessage, _flotilla_site_v1_HubMessage__Output>;
  Connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_flotilla_site_v1_AgentMessage, _flotilla_site_v1_HubMessage__Output>;
  /**
   * The agent's one outbound stream. The first AgentMessage is a hello.
   */
  connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_flotilla_site_v1_AgentMessage, _flotilla_site_v1_HubMessage__Output>;
  connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_flotilla_site_v1_AgentMessage, _flotilla_site_v1_HubMessage__Output>;
  
  /**
   * Renews the agent's own certificate from a CSR for a fresh key.
   */
  RenewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  RenewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  RenewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  RenewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  /**
   * Renews the agent's own certificate from a CSR for a fresh key.
   */
  renewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  renewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  renewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  renewCertificate(argument: _flotilla_site_v1_RenewCertificateRequest, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  
  /**
   * Signs the CSR of a client pod's key, generated at the site, for a job assigned to this site.
   */
  SignClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  SignClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  SignClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  SignClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  /**
   * Signs the CSR of a client pod's key, generated at the site, for a job assigned to this site.
   */
  signClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  signClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  signClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  signClientCertificate(argument: _flotilla_site_v1_SignClientCertificateRequest, callback: grpc.requestCallback<_flotilla_site_v1_SignedCertificate__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Served on the gateway's main port: mutual TLS with the site agent's certificate, whose identity
 * (spiffe://flotilla.dev/site/<site>) names the site.
 */
export interface SiteGatewayHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The agent's one outbound stream. The first AgentMessage is a hello.
   */
  Connect: grpc.handleBidiStreamingCall<_flotilla_site_v1_AgentMessage__Output, _flotilla_site_v1_HubMessage>;
  
  /**
   * Renews the agent's own certificate from a CSR for a fresh key.
   */
  RenewCertificate: grpc.handleUnaryCall<_flotilla_site_v1_RenewCertificateRequest__Output, _flotilla_site_v1_SignedCertificate>;
  
  /**
   * Signs the CSR of a client pod's key, generated at the site, for a job assigned to this site.
   */
  SignClientCertificate: grpc.handleUnaryCall<_flotilla_site_v1_SignClientCertificateRequest__Output, _flotilla_site_v1_SignedCertificate>;
  
}

export interface SiteGatewayDefinition extends grpc.ServiceDefinition {
  Connect: MethodDefinition<_flotilla_site_v1_AgentMessage, _flotilla_site_v1_HubMessage, _flotilla_site_v1_AgentMessage__Output, _flotilla_site_v1_HubMessage__Output>
  RenewCertificate: MethodDefinition<_flotilla_site_v1_RenewCertificateRequest, _flotilla_site_v1_SignedCertificate, _flotilla_site_v1_RenewCertificateRequest__Output, _flotilla_site_v1_SignedCertificate__Output>
  SignClientCertificate: MethodDefinition<_flotilla_site_v1_SignClientCertificateRequest, _flotilla_site_v1_SignedCertificate, _flotilla_site_v1_SignClientCertificateRequest__Output, _flotilla_site_v1_SignedCertificate__Output>
}
