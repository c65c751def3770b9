// Original file: proto/flotilla/federation/v1/federation.proto


export interface SecAggEnvelope {
  /**
   * the addressee when a site sends it, the sender when the aggregator relays it
   */
  'peer'?: (string);
  'envelope'?: (Buffer | Uint8Array | string);
}

export interface SecAggEnvelope__Output {
  /**
   * the addressee when a site sends it, the sender when the aggregator relays it
   */
  'peer': (string);
  'envelope': (Buffer);
}
