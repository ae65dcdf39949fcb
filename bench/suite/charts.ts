/**
 * Charts of the suite's figures as SVG, drawn by Vega-Lite (compiled to Vega and rendered
 * headless, no canvas or browser needed): the headline chart of every ratio to its
 * baseline with the min–max spread over runs and the goal, and one chart per scenario of
 * the absolute values beside their baselines.
 * @module
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { FoldedFigure } from './figures.ts';

const label = (f: FoldedFigure) => `${f.scenario} · ${f.runtime}${f.backend && f.backend !== 'auto' ? `/${f.backend}` : ''} · ${f.case}`;

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Every figure's median ratio to its baseline (bar), min–max over runs (rule), goal (tick). */
export function ratioChart(figures: readonly FoldedFigure[], title: string): TopLevelSpec {
  const values = figures.map((f) => ({
    label: label(f), scenario: f.scenario, ratio: f.ratio.median, min: f.ratio.min, max: f.ratio.max,
    goal: f.goalRatio ?? null, baseline: f.baseline, runs: f.runs,
  }));
  const y = { field: 'label', type: 'nominal' as const, sort: null, title: null, axis: { labelLimit: 420 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: 'value ÷ baseline measured in the same run; bar = median, line = min–max over runs, black tick = goal' },
    data: { values },
    width: 420,
    layer: [
      { mark: { type: 'bar', height: { band: 0.7 } }, encoding: {
        y, x: { field: 'ratio', type: 'quantitative', title: '× baseline', scale: { zero: true } },
        color: { field: 'scenario', type: 'nominal', legend: { title: 'scenario' } },
      } },
      { mark: { type: 'rule', color: '#333' }, encoding: { y, x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } } },
      { transform: [{ filter: 'datum.goal != null' }], mark: { type: 'tick', color: 'black', thickness: 2, size: 14 },
        encoding: { y, x: { field: 'goal', type: 'quantitative' } } },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 }, encoding: {
        y, x: { field: 'max', type: 'quantitative' }, text: { field: 'ratio', type: 'quantitative', format: '.2f' },
      } },
    ],
  } as TopLevelSpec;
}

/** One scenario: the median value beside its baseline's, per case, on a log scale (rates span decades). */
export function valueChart(figures: readonly FoldedFigure[], scenario: string): TopLevelSpec {
  const mine = figures.filter((f) => f.scenario === scenario);
  const values = mine.flatMap((f) => [
    { label: label(f), what: `omniserve: ${f.metric}`, value: f.value.median, min: f.value.min, max: f.value.max },
    { label: label(f), what: `baseline: ${f.baseline}`, value: f.baselineValue.median, min: f.baselineValue.min, max: f.baselineValue.max },
  ]);
  const y = { field: 'label', type: 'nominal' as const, sort: null, title: null, axis: { labelLimit: 420 } };
  const unit = mine[0]?.unit ?? '';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `${scenario}: ${unit}`, subtitle: 'median over runs (line: min–max), beside the baseline of the same run' },
    data: { values },
    width: 420,
    encoding: { y, yOffset: { field: 'what' }, color: { field: 'what', type: 'nominal', legend: { title: null, orient: 'bottom' } } },
    layer: [
      { mark: 'bar', encoding: { x: { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: unit } } },
      { mark: { type: 'rule', color: '#333' }, encoding: { x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } } },
    ],
  } as TopLevelSpec;
}
