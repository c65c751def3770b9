/**
 * The two ways a secure-aggregation round goes wrong. A peer's message that is malformed or comes
 * at the wrong time is refused (SecAggRefusal) and changes nothing; a round that can no longer
 * reach its threshold fails (SecAggRoundFailed), naming the stage and the sites that are missing.
 */

/** The stages of a round, in order (Bonawitz et al. 2017, rounds 0 to 4). */
export type Stage = 'advertise' | 'share' | 'collect' | 'unmask';

export class SecAggRefusal extends Error {
  override name = 'SecAggRefusal';
}

export class SecAggRoundFailed extends Error {
  override name = 'SecAggRoundFailed';
  constructor(
    readonly stage: Stage,
    /** The sites whose absence made the round fail. */
    readonly sites: string[],
    message: string,
  ) {
    super(`secure aggregation failed at stage ${stage}: ${message}`);
  }
}
