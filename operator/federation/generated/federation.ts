import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Compression as _flotilla_federation_v1_Compression, Compression__Output as _flotilla_federation_v1_Compression__Output } from './flotilla/federation/v1/Compression.js';
import type { FederationClient as _flotilla_federation_v1_FederationClient, FederationDefinition as _flotilla_federation_v1_FederationDefinition } from './flotilla/federation/v1/Federation.js';
import type { FetchModelRequest as _flotilla_federation_v1_FetchModelRequest, FetchModelRequest__Output as _flotilla_federation_v1_FetchModelRequest__Output } from './flotilla/federation/v1/FetchModelRequest.js';
import type { HeartbeatRequest as _flotilla_federation_v1_HeartbeatRequest, HeartbeatRequest__Output as _flotilla_federation_v1_HeartbeatRequest__Output } from './flotilla/federation/v1/HeartbeatRequest.js';
import type { HeartbeatResponse as _flotilla_federation_v1_HeartbeatResponse, HeartbeatResponse__Output as _flotilla_federation_v1_HeartbeatResponse__Output } from './flotilla/federation/v1/HeartbeatResponse.js';
import type { JoinRequest as _flotilla_federation_v1_JoinRequest, JoinRequest__Output as _flotilla_federation_v1_JoinRequest__Output } from './flotilla/federation/v1/JoinRequest.js';
import type { JoinResponse as _flotilla_federation_v1_JoinResponse, JoinResponse__Output as _flotilla_federation_v1_JoinResponse__Output } from './flotilla/federation/v1/JoinResponse.js';
import type { MaskedChunk as _flotilla_federation_v1_MaskedChunk, MaskedChunk__Output as _flotilla_federation_v1_MaskedChunk__Output } from './flotilla/federation/v1/MaskedChunk.js';
import type { MaskedMessage as _flotilla_federation_v1_MaskedMessage, MaskedMessage__Output as _flotilla_federation_v1_MaskedMessage__Output } from './flotilla/federation/v1/MaskedMessage.js';
import type { Metrics as _flotilla_federation_v1_Metrics, Metrics__Output as _flotilla_federation_v1_Metrics__Output } from './flotilla/federation/v1/Metrics.js';
import type { ModelHeader as _flotilla_federation_v1_ModelHeader, ModelHeader__Output as _flotilla_federation_v1_ModelHeader__Output } from './flotilla/federation/v1/ModelHeader.js';
import type { ModelMessage as _flotilla_federation_v1_ModelMessage, ModelMessage__Output as _flotilla_federation_v1_ModelMessage__Output } from './flotilla/federation/v1/ModelMessage.js';
import type { NextTaskRequest as _flotilla_federation_v1_NextTaskRequest, NextTaskRequest__Output as _flotilla_federation_v1_NextTaskRequest__Output } from './flotilla/federation/v1/NextTaskRequest.js';
import type { SecAggAdvertisement as _flotilla_federation_v1_SecAggAdvertisement, SecAggAdvertisement__Output as _flotilla_federation_v1_SecAggAdvertisement__Output } from './flotilla/federation/v1/SecAggAdvertisement.js';
import type { SecAggDirectory as _flotilla_federation_v1_SecAggDirectory, SecAggDirectory__Output as _flotilla_federation_v1_SecAggDirectory__Output } from './flotilla/federation/v1/SecAggDirectory.js';
import type { SecAggEnvelope as _flotilla_federation_v1_SecAggEnvelope, SecAggEnvelope__Output as _flotilla_federation_v1_SecAggEnvelope__Output } from './flotilla/federation/v1/SecAggEnvelope.js';
import type { SecAggParams as _flotilla_federation_v1_SecAggParams, SecAggParams__Output as _flotilla_federation_v1_SecAggParams__Output } from './flotilla/federation/v1/SecAggParams.js';
import type { SecAggRequest as _flotilla_federation_v1_SecAggRequest, SecAggRequest__Output as _flotilla_federation_v1_SecAggRequest__Output } from './flotilla/federation/v1/SecAggRequest.js';
import type { SecAggResponse as _flotilla_federation_v1_SecAggResponse, SecAggResponse__Output as _flotilla_federation_v1_SecAggResponse__Output } from './flotilla/federation/v1/SecAggResponse.js';
import type { SecAggShare as _flotilla_federation_v1_SecAggShare, SecAggShare__Output as _flotilla_federation_v1_SecAggShare__Output } from './flotilla/federation/v1/SecAggShare.js';
import type { SecAggShares as _flotilla_federation_v1_SecAggShares, SecAggShares__Output as _flotilla_federation_v1_SecAggShares__Output } from './flotilla/federation/v1/SecAggShares.js';
import type { SecAggSurvivors as _flotilla_federation_v1_SecAggSurvivors, SecAggSurvivors__Output as _flotilla_federation_v1_SecAggSurvivors__Output } from './flotilla/federation/v1/SecAggSurvivors.js';
import type { SecAggUnmask as _flotilla_federation_v1_SecAggUnmask, SecAggUnmask__Output as _flotilla_federation_v1_SecAggUnmask__Output } from './flotilla/federation/v1/SecAggUnmask.js';
import type { SubmitUpdateResponse as _flotilla_federation_v1_SubmitUpdateResponse, SubmitUpdateResponse__Output as _flotilla_federation_v1_SubmitUpdateResponse__Output } from './flotilla/federation/v1/SubmitUpdateResponse.js';
import type { Task as _flotilla_federation_v1_Task, Task__Output as _flotilla_federation_v1_Task__Output } from './flotilla/federation/v1/Task.js';
import type { TensorChunk as _flotilla_federation_v1_TensorChunk, TensorChunk__Output as _flotilla_federation_v1_TensorChunk__Output } from './flotilla/federation/v1/TensorChunk.js';
import type { TensorSpec as _flotilla_federation_v1_TensorSpec, TensorSpec__Output as _flotilla_federation_v1_TensorSpec__Output } from './flotilla/federation/v1/TensorSpec.js';
import type { TrainParams as _flotilla_federation_v1_TrainParams, TrainParams__Output as _flotilla_federation_v1_TrainParams__Output } from './flotilla/federation/v1/TrainParams.js';
import type { UpdateHeader as _flotilla_federation_v1_UpdateHeader, UpdateHeader__Output as _flotilla_federation_v1_UpdateHeader__Output } from './flotilla/federation/v1/UpdateHeader.js';
import type { UpdateMessage as _flotilla_federation_v1_UpdateMessage, UpdateMessage__Output as _flotilla_federation_v1_UpdateMessage__Output } from './flotilla/federation/v1/UpdateMessage.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  flotilla: {
    federation: {
      v1: {
        ChunkEncoding: EnumTypeDefinition
        Compression: MessageTypeDefinition<_flotilla_federation_v1_Compression, _flotilla_federation_v1_Compression__Output>
        DType: EnumTypeDefinition
        Federation: SubtypeConstructor<typeof grpc.Client, _flotilla_federation_v1_FederationClient> & { service: _flotilla_federation_v1_FederationDefinition }
        FetchModelRequest: MessageTypeDefinition<_flotilla_federation_v1_FetchModelRequest, _flotilla_federation_v1_FetchModelRequest__Output>
        HeartbeatRequest: MessageTypeDefinition<_flotilla_federation_v1_HeartbeatRequest, _flotilla_federation_v1_HeartbeatRequest__Output>
        HeartbeatResponse: MessageTypeDefinition<_flotilla_federation_v1_HeartbeatResponse, _flotilla_federation_v1_HeartbeatResponse__Output>
        JoinRequest: MessageTypeDefinition<_flotilla_federation_v1_JoinRequest, _flotilla_federation_v1_JoinRequest__Output>
        JoinResponse: MessageTypeDefinition<_flotilla_federation_v1_JoinResponse, _flotilla_federation_v1_JoinResponse__Output>
        MaskedChunk: MessageTypeDefinition<_flotilla_federation_v1_MaskedChunk, _flotilla_federation_v1_MaskedChunk__Output>
        MaskedMessage: MessageTypeDefinition<_flotilla_federation_v1_MaskedMessage, _flotilla_federation_v1_MaskedMessage__Output>
        Metrics: MessageTypeDefinition<_flotilla_federation_v1_Metrics, _flotilla_federation_v1_Metrics__Output>
        ModelHeader: MessageTypeDefinition<_flotilla_federation_v1_ModelHeader, _flotilla_federation_v1_ModelHeader__Output>
        ModelMessage: MessageTypeDefinition<_flotilla_federation_v1_ModelMessage, _flotilla_federation_v1_ModelMessage__Output>
        NextTaskRequest: MessageTypeDefinition<_flotilla_federation_v1_NextTaskRequest, _flotilla_federation_v1_NextTaskRequest__Output>
        SecAggAdvertisement: MessageTypeDefinition<_flotilla_federation_v1_SecAggAdvertisement, _flotilla_federation_v1_SecAggAdvertisement__Output>
        SecAggDirectory: MessageTypeDefinition<_flotilla_federation_v1_SecAggDirectory, _flotilla_federation_v1_SecAggDirectory__Output>
        SecAggEnvelope: MessageTypeDefinition<_flotilla_federation_v1_SecAggEnvelope, _flotilla_federation_v1_SecAggEnvelope__Output>
        SecAggParams: MessageTypeDefinition<_flotilla_federation_v1_SecAggParams, _flotilla_federation_v1_SecAggParams__Output>
        SecAggRequest: MessageTypeDefinition<_flotilla_federation_v1_SecAggRequest, _flotilla_federation_v1_SecAggRequest__Output>
        SecAggResponse: MessageTypeDefinition<_flotilla_federation_v1_SecAggResponse, _flotilla_federation_v1_SecAggResponse__Output>
        SecAggShare: MessageTypeDefinition<_flotilla_federation_v1_SecAggShare, _flotilla_federation_v1_SecAggShare__Output>
        SecAggShares: MessageTypeDefinition<_flotilla_federation_v1_SecAggShares, _flotilla_federation_v1_SecAggShares__Output>
        SecAggSurvivors: MessageTypeDefinition<_flotilla_federation_v1_SecAggSurvivors, _flotilla_federation_v1_SecAggSurvivors__Output>
        SecAggUnmask: MessageTypeDefinition<_flotilla_federation_v1_SecAggUnmask, _flotilla_federation_v1_SecAggUnmask__Output>
        SubmitUpdateResponse: MessageTypeDefinition<_flotilla_federation_v1_SubmitUpdateResponse, _flotilla_federation_v1_SubmitUpdateResponse__Output>
        Task: MessageTypeDefinition<_flotilla_federation_v1_Task, _flotilla_federation_v1_Task__Output>
        TaskKind: EnumTypeDefinition
        TensorChunk: MessageTypeDefinition<_flotilla_federation_v1_TensorChunk, _flotilla_federation_v1_TensorChunk__Output>
        TensorSpec: MessageTypeDefinition<_flotilla_federation_v1_TensorSpec, _flotilla_federation_v1_TensorSpec__Output>
        TrainParams: MessageTypeDefinition<_flotilla_federation_v1_TrainParams, _flotilla_federation_v1_TrainParams__Output>
        UpdateHeader: MessageTypeDefinition<_flotilla_federation_v1_UpdateHeader, _flotilla_federation_v1_UpdateHeader__Output>
        UpdateMessage: MessageTypeDefinition<_flotilla_federation_v1_UpdateMessage, _flotilla_federation_v1_UpdateMessage__Output>
      }
    }
  }
}

