// Original file: proto/flotilla/federation/v1/federation.proto


export interface SecAggAdvertisement {
  'site'?: (string);
  'maskKey'?: (Buffer | Uint8Array | string);
  'envelopeKey'?: (Buffer | Uint8Array | string);
  'certPem'?: (string);
  'signature'?: (Buffer | Uint8Array | string);
}

export interface SecAggAdvertisement__Output {
  'site': (string);
  'maskKey': (Buffer);
  'envelopeKey': (Buffer);
  'certPem': (string);
  'signature': (Buffer);
}
