// Original file: proto/flotilla/site/v1/site.proto

import type { Long } from '@grpc/proto-loader';

export interface Assignment {
  'namespace'?: (string);
  'job'?: (string);
  'jobUid'?: (string);
  'generation'?: (number | string | Long);
  /**
   * host:port the client dials
   */
  'aggregatorAddress'?: (string);
  'image'?: (string);
  /**
   * the FederatedJob, as JSON, that the client runs with
   */
  'jobManifest'?: (string);
  /**
   * the site's data volume, mounted read-only
   */
  'dataClaimName'?: (string);
  /**
   * the data file inside it
   */
  'dataPath'?: (string);
  'resourceLimits'?: ({[key: string]: string});
  'resourceRequests'?: ({[key: string]: string});
  'nodeSelector'?: ({[key: string]: string});
  /**
   * core/v1 Toleration list, as JSON
   */
  'tolerationsJson'?: (string);
}

export interface Assignment__Output {
  'namespace': (string);
  'job': (string);
  'jobUid': (string);
  'generation': (number);
  /**
   * host:port the client dials
   */
  'aggregatorAddress': (string);
  'image': (string);
  /**
   * the FederatedJob, as JSON, that the client runs with
   */
  'jobManifest': (string);
  /**
   * the site's data volume, mounted read-only
   */
  'dataClaimName': (string);
  /**
   * the data file inside it
   */
  'dataPath': (string);
  'resourceLimits': ({[key: string]: string});
  'resourceRequests': ({[key: string]: string});
  'nodeSelector': ({[key: string]: string});
  /**
   * core/v1 Toleration list, as JSON
   */
  'tolerationsJson': (string);
}
