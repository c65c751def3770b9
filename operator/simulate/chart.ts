import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface RoundPoint {
  round: number;
  loss?: number;
  accuracy?: number;
}

/**
 * Loss and accuracy of the global model per round, as an SVG drawn by Vega-Lite: one panel per
 * figure, so the two scales never fight.
 */
export async function roundsChartSvg(title: string, points: RoundPoint[]): Promise<string> {
  const values = points.flatMap((p) => [
    ...(p.loss === undefined ? [] : [{ round: p.round, figure: 'loss', value: p.loss }]),
    ...(p.accuracy === undefined ? [] : [{ round: p.round, figure: 'accuracy', value: p.accuracy }]),
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'global model on the sites\u2019 held-out test sets (sample-weighted)' },
    data: { values },
    facet: { row: { field: 'figure', type: 'nominal', title: null, sort: ['accuracy', 'loss'] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 520,
      height: 180,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'round', type: 'quantitative', title: 'round', axis: { tickMinStep: 1 } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'figure', type: 'nominal', legend: null },
      },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
