/** What is wrong with a tensor stream (tensor-stream.ts, chunk-decoder.ts): `reason` names it. */
export type StreamFault =
  | 'bad-message' // neither header nor chunk, a missing header, or a second one
  | 'bad-header' // a header that is malformed, or not the one expected
  | 'unknown-tensor'
  | 'out-of-order'
  | 'misaligned' // a chunk that is not a whole number of elements
  | 'empty-chunk'
  | 'too-many-bytes' // past a tensor's end, or after the last tensor
  | 'not-finite' // NaN or ±Infinity
  | 'bad-encoding' // a compressed chunk that does not decode (chunk-decoder.ts)
  | 'incomplete';

export class StreamError extends Error {
  constructor(
    readonly reason: StreamFault,
    message: string,
  ) {
    super(message);
    this.name = 'StreamError';
  }
}
