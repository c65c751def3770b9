// Original file: proto/flotilla/federation/v1/federation.proto

export const TaskKind = {
  TASK_KIND_UNSPECIFIED: 'TASK_KIND_UNSPECIFIED',
  /**
   * nothing for this site now: ask again
   */
  WAIT: 'WAIT',
  /**
   * send federated statistics of the local training data (counts and sums only)
   */
  STATISTICS: 'STATISTICS',
  /**
   * evaluate the round's global model, train from it, send the update
   */
  TRAIN: 'TRAIN',
  /**
   * evaluate the final global model on the local test set
   */
  EVALUATE: 'EVALUATE',
  /**
   * the job is over
   */
  DONE: 'DONE',
  /**
   * send the initial global model, made from the job's seed (asked of one site)
   */
  INITIALIZE: 'INITIALIZE',
} as const;

export type TaskKind =
  | 'TASK_KIND_UNSPECIFIED'
  | 0
  /**
   * nothing for this site now: ask again
   */
  | 'WAIT'
  | 1
  /**
   * send federated statistics of the local training data (counts and sums only)
   */
  | 'STATISTICS'
  | 2
  /**
   * evaluate the round's global model, train from it, send the update
   */
  | 'TRAIN'
  | 3
  /**
   * evaluate the final global model on the local test set
   */
  | 'EVALUATE'
  | 4
  /**
   * the job is over
   */
  | 'DONE'
  | 5
  /**
   * send the initial global model, made from the job's seed (asked of one site)
   */
  | 'INITIALIZE'
  | 6

export type TaskKind__Output = typeof TaskKind[keyof typeof TaskKind]
