import { parseRoundFigures } from './progress.js';

const scrape = (round: number) => `# HELP flotilla_round The round in progress.
# TYPE flotilla_round gauge
flotilla_round{namespace="cardiology",federatedjob="heart-disease"} ${round}
flotilla_global_loss{namespace="cardiology",federatedjob="heart-disease"} ${round ? 0.4712 : 0}
flotilla_global_accuracy{namespace="cardiology",federatedjob="heart-disease"} ${round ? 0.803 : 0}
flotilla_round_duration_seconds_bucket{le="0.1",namespace="cardiology",federatedjob="heart-disease"} 3
`;

describe('progress from /metrics', () => {
  it('reads the round and the global figures out of the Prometheus text format', () => {
    expect(parseRoundFigures(scrape(7))).toEqual({ round: 7, loss: 0.4712, accuracy: 0.803 });
  });

  it('shows no figures before the first round closed', () => {
    expect(parseRoundFigures(scrape(0))).toEqual({ round: 0 });
  });

  it('gives nothing for a page without the round', () => {
    expect(parseRoundFigures('# nothing here\n')).toBeUndefined();
  });
});
