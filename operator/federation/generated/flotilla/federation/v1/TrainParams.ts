// Original file: proto/flotilla/federation/v1/federation.proto


export interface TrainParams {
  'localEpochs'?: (number);
  'localSteps'?: (number);
  'batchSize'?: (number);
  'learningRate'?: (number | string);
  /**
   * FedProx: 0 for the other strategies
   */
  'proximalMu'?: (number | string);
  /**
   * derived from the job's seed, the round and the site
   */
  'seed'?: (number);
}

export interface TrainParams__Output {
  'localEpochs': (number);
  'localSteps': (number);
  'batchSize': (number);
  'learningRate': (number);
  /**
   * FedProx: 0 for the other strategies
   */
  'proximalMu': (number);
  /**
   * derived from the job's seed, the round and the site
   */
  'seed': (number);
}
