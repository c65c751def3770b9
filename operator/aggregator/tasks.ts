import { specOf, type Model } from '../federation/model.js';
import { toWireHeader } from '../federation/tensor-stream.js';
import type { Task } from '../federation/generated/flotilla/federation/v1/Task.js';
import { deriveSeed } from '../process/random.js';
import type { JobSettings } from './job-settings.js';
import type { NextStep } from './round-state.js';

/** What NextTask answers, from a site's next step and the aggregator's state alone. */
export function taskOf(
  step: NextStep,
  site: string,
  settings: JobSettings,
  proximalMu: number,
  global: Model | null,
  statistics: Float64Array | null,
): Task {
  switch (step.kind) {
    case 'WAIT':
      return { kind: 'WAIT' };
    case 'DONE':
      return { kind: 'DONE', succeeded: step.succeeded, message: step.message };
    case 'INITIALIZE':
    case 'STATISTICS':
      return {
        kind: step.kind,
        round: step.round,
        attempt: step.attempt,
        // The initial model comes from the job's seed alone, so whichever site makes it, it is the same.
        params: { seed: settings.seed },
        deadlineUnixMs: step.deadline,
      };
    case 'TRAIN':
    case 'EVALUATE': {
      const { localEpochs, localSteps, batchSize, learningRate } = settings.training;
      return {
        kind: step.kind,
        round: step.round,
        attempt: step.attempt,
        params: {
          localEpochs,
          localSteps,
          batchSize,
          learningRate,
          proximalMu,
          // Not the attempt: a round re-run after a restart trains exactly as the first time.
          seed: deriveSeed(settings.seed, 'train', step.round, site),
        },
        model: global ? toWireHeader(specOf(global)) : null,
        statistics: statistics ? [...statistics] : [],
        deadlineUnixMs: step.deadline,
        // The final evaluation is of the model the job delivers, sent unencoded.
        compression: step.kind === 'TRAIN' ? settings.compression : { ...settings.compression, download: 'ENCODING_NONE' },
      };
    }
  }
}
