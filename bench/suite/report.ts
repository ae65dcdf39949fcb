/**
 * The suite's Markdown report: the machine, what ran (and what was skipped, and why), the
 * headline table (median value and ratio with min–max over runs, goal), and every figure.
 * @module
 */
import { fmtMs, fmtRate, fmtRatio, mdEscape, mdRow, reproduceSection } from '../core/format.ts';
import type { Machine } from '../core/types.ts';
import { headline, type FoldedFigure, type Spread } from './figures.ts';

/** One scenario of the suite: its runs and how they ended. */
export interface ScenarioOutcome {
  readonly scenario: string;
  readonly status: 'ok' | 'partial' | 'failed' | 'skipped';
  readonly why?: string;
  readonly command?: string;
  readonly runtimes?: readonly string[];
  readonly runs: readonly ScenarioRun[];
}

/** One run of a scenario script. */
export interface ScenarioRun {
  readonly n: number;
  readonly seconds: number;
  readonly code: number;
  /** Its output, relative to the repository root. */
  readonly log: string;
  readonly figures?: number;
  readonly error?: string;
}

/** bench/results/suite.json. */
export interface SuiteResults {
  readonly benchmark: 'suite';
  readonly date: string;
  readonly command: string;
  readonly revision: string;
  readonly seconds: number;
  readonly machine: Machine;
  readonly selection: { scenarios: readonly string[]; runtimes: readonly string[]; backends: readonly string[]; quick: boolean; repeat: number };
  readonly notes: readonly string[];
  readonly outcomes: readonly ScenarioOutcome[];
  readonly figures: readonly FoldedFigure[];
}

const row = (cells: readonly (string | number)[]) => mdRow(cells.map((c) => mdEscape(String(c))));
const ratio = fmtRatio;
const spreadOf = (s: Spread, f: (x: number) => string, runs: number) => (runs > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median));

function table(figures: readonly FoldedFigure[]): string[] {
  const lines = [
    row(['scenario', 'runtime', 'backend', 'case', 'value (median, min–max)', 'baseline', 'baseline value', '× baseline (median, min–max)', 'goal', 'p50 / p99 ms', 'runs']),
    row(['---', '---', '---', '---', '---:', '---', '---:', '---:', '---', '---:', '---:']),
  ];
  for (const f of figures) {
    lines.push(row([
      f.scenario, f.runtime, f.backend, f.case, `${spreadOf(f.value, fmtRate, f.runs)} ${f.unit}`, f.baseline, fmtRate(f.baselineValue.median),
      `**${spreadOf(f.ratio, ratio, f.runs)}**`,
      f.goalRatio === undefined ? '' : `${f.goalMet ? 'yes' : '**no**'} (≥ ${ratio(f.goalRatio)})${f.flagged.length ? ' flagged' : ''}`,
      f.p50Ms && f.p99Ms ? `${fmtMs(f.p50Ms.median)} / ${fmtMs(f.p99Ms.median)}` : '', f.runs,
    ]));
  }
  return lines;
}

/** Renders suite.md; `charts` are the SVG files written beside it. */
export function renderSuiteMarkdown(r: SuiteResults, charts: readonly string[]): string {
  const m = r.machine;
  return [
    '# omniserve benchmark suite',
    '',
    `${r.date} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · ${m.os} · load average ${m.loadavg.before.join(' ')} before, ${m.loadavg.after.join(' ')} after. ` +
      `Runtimes: ${Object.entries(m.runtimes).map(([k, v]) => `${k} ${v}`).join(', ')}; ${Object.entries(m.onnxruntime).map(([k, v]) => `${k} ${v}`).join(', ')}. ` +
      `Code: ${r.revision}. Whole run: ${r.seconds} s.`,
    '',
    'Every figure is measured against a baseline **in the same run** (raw inference, a hello-world HTTP server, a no-op pipe, the realtime server ' +
      'beside the async one) and shown as value and ratio; with several runs, the median and the min–max. Ratios are what to compare across ' +
      'machines and runs: absolute figures move with whatever else the machine does.',
    '',
    ...(charts.includes('suite-ratios.svg') ? ['![ratios](suite-ratios.svg)', ''] : []),
    '## Scenarios',
    '',
    row(['scenario', 'status', 'runs', 'seconds', 'command / why not run']),
    row(['---', '---', '---:', '---:', '---']),
    ...r.outcomes.map((o) => row([o.scenario, o.status, o.runs.length, o.runs.reduce((t, x) => t + x.seconds, 0).toFixed(0),
      o.why ?? `\`${o.command}\`${o.runs.some((x) => x.error) ? ` — ${o.runs.filter((x) => x.error).map((x) => `run ${x.n}: ${x.error} (log ${x.log})`).join('; ')}` : ''}`])),
    ...(r.notes.length ? ['', ...r.notes.map((n) => `Note: ${n}`)] : []),
    '',
    '## Headline figures',
    '',
    ...table(headline(r.figures)),
    '',
    '## Every figure',
    '',
    ...table(r.figures),
    '',
    ...(charts.length > 1 ? ['## Charts per scenario', '', ...charts.filter((c) => c !== 'suite-ratios.svg').map((c) => `![${c}](${c})`), ''] : []),
    'Each scenario writes its own full report beside this one (bench/results/<scenario>.md), with the method and every run.',
    '',
    ...reproduceSection(r.command.replace(/^omniserve bench/, 'npx omniserve bench')),
  ].join('\n');
}
