import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JobProgress } from './job-state.js';
import { StatusReporter } from './status.js';

describe('/status', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flotilla-status-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("gives each site's fine-tuned accuracy beside the final model's, under spec.personalization", async () => {
    const figures = (accuracy: number) => ({ numSamples: 10, loss: 0.5, accuracy });
    const progress: JobProgress = {
      namespace: 'ns',
      job: 'heart',
      rounds: 1,
      position: { phase: 'DONE', round: 1 },
      result: { succeeded: true, message: 'done' },
      history: [{ round: 1, attempt: 0, participants: ['a', 'b'], startedAt: '', durationSeconds: 1, train: null, eval: null, sites: ['a', 'b'].map((site) => ({ site, numSamples: 10, train: null, eval: null })) }],
      finalEvaluation: { eval: figures(0.7), sites: [{ site: 'a', eval: figures(0.6), fineTuned: figures(0.9) }, { site: 'b', eval: figures(0.8) }], fineTuned: figures(0.9) },
      privacy: null,
    };
    const status = await new StatusReporter({ progress: () => progress }, dir).report();
    expect(status.sites).toEqual({
      a: { lastRound: 1, samples: 10, accuracy: 0.6, fineTunedAccuracy: 0.9 },
      b: { lastRound: 1, samples: 10, accuracy: 0.8 },
    });
  });
});
