// Original file: proto/flotilla/federation/v1/federation.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { FetchModelRequest as _flotilla_federation_v1_FetchModelRequest, FetchModelRequest__Output as _flotilla_federation_v1_FetchModelRequest__Output } from '../../../flotilla/federation/v1/FetchModelRequest.js';
import type { HeartbeatRequest as _flotilla_federation_v1_HeartbeatRequest, HeartbeatRequest__Output as _flotilla_federation_v1_HeartbeatRequest__Output } from '../../../flotilla/federation/v1/HeartbeatRequest.js';
import type { HeartbeatResponse as _flotilla_federation_v1_HeartbeatResponse, HeartbeatResponse__Output as _flotilla_federation_v1_HeartbeatResponse__Output } from '../../../flotilla/federation/v1/HeartbeatResponse.js';
import type { JoinRequest as _flotilla_federation_v1_JoinRequest, JoinRequest__Output as _flotilla_federation_v1_JoinRequest__Output } from '../../../flotilla/federation/v1/JoinRequest.js';
import type { JoinResponse as _flotilla_federation_v1_JoinResponse, JoinResponse__Output as _flotilla_federation_v1_JoinResponse__Output } from '../../../flotilla/federation/v1/JoinResponse.js';
import type { MaskedMessage as _flotilla_federation_v1_MaskedMessage, MaskedMessage__Output as _flotilla_federation_v1_MaskedMessage__Output } from '../../../flotilla/federation/v1/MaskedMessage.js';
import type { ModelMessage as _flotilla_federation_v1_ModelMessage, ModelMessage__Output as _flotilla_federation_v1_ModelMessage__Output } from '../../../flotilla/federation/v1/ModelMessage.js';
import type { NextTaskRequest as _flotilla_federation_v1_NextTaskRequest, NextTaskRequest__Output as _flotilla_federation_v1_NextTaskRequest__Output } from '../../../flotilla/federation/v1/NextTaskRequest.js';
import type { SecAggRequest as _flotilla_federation_v1_SecAggRequest, SecAggRequest__Output as _flotilla_federation_v1_SecAggRequest__Output } from '../../../flotilla/federation/v1/SecAggRequest.js';
import type { SecAggResponse as _flotilla_federation_v1_SecAggResponse, SecAggResponse__Output as _flotilla_federation_v1_SecAggResponse__Output } from '../../../flotilla/federation/v1/SecAggResponse.js';
import type { SubmitUpdateResponse as _flotilla_federation_v1_SubmitUpdateResponse, SubmitUpdateResponse__Output as _flotilla_federation_v1_SubmitUpdateResponse__Output } from '../../../flotilla/federation/v1/SubmitUpdateResponse.js';
import type { Task as _flotilla_federation_v1_Task, Task__Output as _flotilla_federation_v1_Task__Output } from '../../../flotilla/federation/v1/Task.js';
import type { UpdateMessage as _flotilla_federation_v1_UpdateMessage, UpdateMessage__Output as _flotilla_federation_v1_UpdateMessage__Output } from '../../../flotilla/federation/v1/UpdateMessage.js';

export interface FederationClient extends grpc.Client {
  /**
   * FetchModel streams the global model of a round: one ModelHeader, then the chunks in order.
   */
  FetchModel(argument: _flotilla_federation_v1_FetchModelRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_federation_v1_ModelMessage__Output>;
  FetchModel(argument: _flotilla_federation_v1_FetchModelRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_federation_v1_ModelMessage__Output>;
  /**
   * FetchModel streams the global model of a round: one ModelHeader, then the chunks in order.
   */
  fetchModel(argument: _flotilla_federation_v1_FetchModelRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_federation_v1_ModelMessage__Output>;
  fetchModel(argument: _flotilla_federation_v1_FetchModelRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_federation_v1_ModelMessage__Output>;
  
  /**
   * Heartbeat keeps a selected site in its round while it trains, and tells it whether the round
   * is still open.
   */
  Heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Heartbeat keeps a selected site in its round while it trains, and tells it whether the round
   * is still open.
   */
  heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _flotilla_federation_v1_HeartbeatRequest, callback: grpc.requestCallback<_flotilla_federation_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Join announces the client and checks that both sides speak the same protocol. Idempotent: a
   * client that reconnects joins again.
   */
  Join(argument: _flotilla_federation_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _flotilla_federation_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _flotilla_federation_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  Join(argument: _flotilla_federation_v1_JoinRequest, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Join announces the client and checks that both sides speak the same protocol. Idempotent: a
   * client that reconnects joins again.
   */
  join(argument: _flotilla_federation_v1_JoinRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _flotilla_federation_v1_JoinRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _flotilla_federation_v1_JoinRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  join(argument: _flotilla_federation_v1_JoinRequest, callback: grpc.requestCallback<_flotilla_federation_v1_JoinResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * NextTask waits (a bounded long poll) until there is work for this site: federated statistics,
   * a training round, a final evaluation, or the end of the job. It is computed from the
   * aggregator's state alone, so asking again after a reconnect returns the same task.
   */
  NextTask(argument: _flotilla_federation_v1_NextTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  NextTask(argument: _flotilla_federation_v1_NextTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  NextTask(argument: _flotilla_federation_v1_NextTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  NextTask(argument: _flotilla_federation_v1_NextTaskRequest, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  /**
   * NextTask waits (a bounded long poll) until there is work for this site: federated statistics,
   * a training round, a final evaluation, or the end of the job. It is computed from the
   * aggregator's state alone, so asking again after a reconnect returns the same task.
   */
  nextTask(argument: _flotilla_federation_v1_NextTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  nextTask(argument: _flotilla_federation_v1_NextTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  nextTask(argument: _flotilla_federation_v1_NextTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  nextTask(argument: _flotilla_federation_v1_NextTaskRequest, callback: grpc.requestCallback<_flotilla_federation_v1_Task__Output>): grpc.ClientUnaryCall;
  
  /**
   * SecAgg carries one site's part of a secure-aggregation round (a task with secagg set): it sends
   * what its stage made (advertisement, shares, unmasking shares) or nothing, and waits (a bounded
   * long poll) for what its next stage needs, relayed by the aggregator. Asking again is harmless.
   */
  SecAgg(argument: _flotilla_federation_v1_SecAggRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  SecAgg(argument: _flotilla_federation_v1_SecAggRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  SecAgg(argument: _flotilla_federation_v1_SecAggRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  SecAgg(argument: _flotilla_federation_v1_SecAggRequest, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  /**
   * SecAgg carries one site's part of a secure-aggregation round (a task with secagg set): it sends
   * what its stage made (advertisement, shares, unmasking shares) or nothing, and waits (a bounded
   * long poll) for what its next stage needs, relayed by the aggregator. Asking again is harmless.
   */
  secAgg(argument: _flotilla_federation_v1_SecAggRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  secAgg(argument: _flotilla_federation_v1_SecAggRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  secAgg(argument: _flotilla_federation_v1_SecAggRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  secAgg(argument: _flotilla_federation_v1_SecAggRequest, callback: grpc.requestCallback<_flotilla_federation_v1_SecAggResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * SubmitMasked streams a site's masked update of a secure-aggregation round: one UpdateHeader
   * (figures only, no model), then the 32-bit words in order.
   */
  SubmitMasked(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  SubmitMasked(metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  SubmitMasked(options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  SubmitMasked(callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  /**
   * SubmitMasked streams a site's masked update of a secure-aggregation round: one UpdateHeader
   * (figures only, no model), then the 32-bit words in order.
   */
  submitMasked(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  submitMasked(metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  submitMasked(options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  submitMasked(callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_MaskedMessage>;
  
  /**
   * SubmitUpdate streams a site's result for a task: one UpdateHeader, then the chunks in order.
   */
  SubmitUpdate(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  SubmitUpdate(metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  SubmitUpdate(options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  SubmitUpdate(callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  /**
   * SubmitUpdate streams a site's result for a task: one UpdateHeader, then the chunks in order.
   */
  submitUpdate(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  submitUpdate(metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  submitUpdate(options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  submitUpdate(callback: grpc.requestCallback<_flotilla_federation_v1_SubmitUpdateResponse__Output>): grpc.ClientWritableStream<_flotilla_federation_v1_UpdateMessage>;
  
}

export interface FederationHandlers extends grpc.UntypedServiceImplementation {
  /**
   * FetchModel streams the global model of a round: one ModelHeader, then the chunks in order.
   */
  FetchModel: grpc.handleServerStreamingCall<_flotilla_federation_v1_FetchModelRequest__Output, _flotilla_federation_v1_ModelMessage>;
  
  /**
   * Heartbeat keeps a selected site in its round while it trains, and tells it whether the round
   * is still open.
   */
  Heartbeat: grpc.handleUnaryCall<_flotilla_federation_v1_HeartbeatRequest__Output, _flotilla_federation_v1_HeartbeatResponse>;
  
  /**
   * Join announces the client and checks that both sides speak the same protocol. Idempotent: a
   * client that reconnects joins again.
   */
  Join: grpc.handleUnaryCall<_flotilla_federation_v1_JoinRequest__Output, _flotilla_federation_v1_JoinResponse>;
  
  /**
   * NextTask waits (a bounded long poll) until there is work for this site: federated statistics,
   * a training round, a final evaluation, or the end of the job. It is computed from the
   * aggregator's state alone, so asking again after a reconnect returns the same task.
   */
  NextTask: grpc.handleUnaryCall<_flotilla_federation_v1_NextTaskRequest__Output, _flotilla_federation_v1_Task>;
  
  /**
   * SecAgg carries one site's part of a secure-aggregation round (a task with secagg set): it sends
   * what its stage made (advertisement, shares, unmasking shares) or nothing, and waits (a bounded
   * long poll) for what its next stage needs, relayed by the aggregator. Asking again is harmless.
   */
  SecAgg: grpc.handleUnaryCall<_flotilla_federation_v1_SecAggRequest__Output, _flotilla_federation_v1_SecAggResponse>;
  
  /**
   * SubmitMasked streams a site's masked update of a secure-aggregation round: one UpdateHeader
   * (figures only, no model), then the 32-bit words in order.
   */
  SubmitMasked: grpc.handleClientStreamingCall<_flotilla_federation_v1_MaskedMessage__Output, _flotilla_federation_v1_SubmitUpdateResponse>;
  
  /**
   * SubmitUpdate streams a site's result for a task: one UpdateHeader, then the chunks in order.
   */
  SubmitUpdate: grpc.handleClientStreamingCall<_flotilla_federation_v1_UpdateMessage__Output, _flotilla_federation_v1_SubmitUpdateResponse>;
  
}

export interface FederationDefinition extends grpc.ServiceDefinition {
  FetchModel: MethodDefinition<_flotilla_federation_v1_FetchModelRequest, _flotilla_federation_v1_ModelMessage, _flotilla_federation_v1_FetchModelRequest__Output, _flotilla_federation_v1_ModelMessage__Output>
  Heartbeat: MethodDefinition<_flotilla_federation_v1_HeartbeatRequest, _flotilla_federation_v1_HeartbeatResponse, _flotilla_federation_v1_HeartbeatRequest__Output, _flotilla_federation_v1_HeartbeatResponse__Output>
  Join: MethodDefinition<_flotilla_federation_v1_JoinRequest, _flotilla_federation_v1_JoinResponse, _flotilla_federation_v1_JoinRequest__Output, _flotilla_federation_v1_JoinResponse__Output>
  NextTask: MethodDefinition<_flotilla_federation_v1_NextTaskRequest, _flotilla_federation_v1_Task, _flotilla_federation_v1_NextTaskRequest__Output, _flotilla_federation_v1_Task__Output>
  SecAgg: MethodDefinition<_flotilla_federation_v1_SecAggRequest, _flotilla_federation_v1_SecAggResponse, _flotilla_federation_v1_SecAggRequest__Output, _flotilla_federation_v1_SecAggResponse__Output>
  SubmitMasked: MethodDefinition<_flotilla_federation_v1_MaskedMessage, _flotilla_federation_v1_SubmitUpdateResponse, _flotilla_federation_v1_MaskedMessage__Output, _flotilla_federation_v1_SubmitUpdateResponse__Output>
  SubmitUpdate: MethodDefinition<_flotilla_federation_v1_UpdateMessage, _flotilla_federation_v1_SubmitUpdateResponse, _flotilla_federation_v1_UpdateMessage__Output, _flotilla_federation_v1_SubmitUpdateResponse__Output>
}
