import { roundsChartSvg } from './chart.js';

describe('rounds chart', () => {
  it('draws both figures over the rounds as SVG', async () => {
    const svg = await roundsChartSvg('heart-disease', [
      { round: 1, loss: 0.69, accuracy: 0.55 },
      { round: 2, loss: 0.6, accuracy: 0.66 },
      { round: 3, loss: 0.55, accuracy: 0.71 },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('heart-disease');
    expect(svg).toContain('accuracy');
    expect(svg).toContain('loss');
    // one line mark per figure, with a point per round on each
    expect((svg.match(/role-mark/g) ?? []).length).toBeGreaterThanOrEqual(2);
  });
});
