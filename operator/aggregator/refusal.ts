import { status } from '@grpc/grpc-js';

/** Why an update or a call was refused: the label of flotilla_updates_refused_total. */
export type RefusalReason =
  | 'unauthenticated'
  | 'identity'
  | 'revoked'
  | 'protocol'
  | 'wrong_shape'
  | 'invalid_header'
  | 'not_finite'
  | 'out_of_range'
  | 'too_large'
  | 'malformed_stream'
  | 'bad_encoding'
  | 'duplicate'
  | 'stale_round'
  | 'not_selected'
  | 'wrong_phase'
  | 'cut_short'
  | 'busy';

const CODE: Record<RefusalReason, status> = {
  unauthenticated: status.UNAUTHENTICATED,
  identity: status.PERMISSION_DENIED,
  revoked: status.PERMISSION_DENIED,
  protocol: status.FAILED_PRECONDITION,
  wrong_shape: status.INVALID_ARGUMENT,
  invalid_header: status.INVALID_ARGUMENT,
  not_finite: status.INVALID_ARGUMENT,
  out_of_range: status.INVALID_ARGUMENT,
  malformed_stream: status.INVALID_ARGUMENT,
  bad_encoding: status.INVALID_ARGUMENT,
  too_large: status.RESOURCE_EXHAUSTED,
  duplicate: status.ALREADY_EXISTS,
  stale_round: status.FAILED_PRECONDITION,
  not_selected: status.FAILED_PRECONDITION,
  wrong_phase: status.FAILED_PRECONDITION,
  cut_short: status.CANCELLED,
  busy: status.RESOURCE_EXHAUSTED,
};

/**
 * A refusal of one peer's call: it carries the gRPC status the peer receives and a message a
 * person can act on. Throwing one never changes the round; handlers turn it into the call's status,
 * a log line and a counter.
 */
export class Refusal extends Error {
  readonly code: status;

  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'Refusal';
    this.code = CODE[reason];
  }
}

/** Every reason, for counters that start at zero. */
export const REFUSAL_REASONS = Object.keys(CODE) as RefusalReason[];
