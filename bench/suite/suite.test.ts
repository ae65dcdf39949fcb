// The suite's pieces without running any benchmark: results files → figures (ratios against
// the same-run baseline), repeated runs → min/median/max, scenario command lines for a
// selection, the Markdown report and the SVG charts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ratioChart, renderSvg, valueChart } from './charts.ts';
import { EXTRACT, fold, headline, type Figure } from './figures.ts';
import { renderSuiteMarkdown, type SuiteResults } from './report.ts';
import { plan, unsupported } from './scenarios.ts';

const realtimeRun = (omni: number, hello: number, problems: string[] = []) => ({
  settings: { variants: [{ id: 'hello', title: 'Hono hello-world' }, { id: 'omniserve', title: 'omniserve (default)' }] },
  goals: { ratio: { node: 0.4, bun: 0.5 }, heavyRatio: 0.7 },
  realtime: [{ host: 'node', summary: {
    hello: { requestsPerSec: hello, p50Ms: 1, p99Ms: 2, problems: [] },
    omniserve: { requestsPerSec: omni, p50Ms: 5, p99Ms: 9, problems },
  } }],
  heavy: [{ host: 'node', rawRowsPerSec: 2000, raw: [{ backend: 'native-cpu' }],
    served: { batch64: { rowsPerRequest: 64, rowsPerSec: 1500, p50Ms: 300, p99Ms: 400, problems: [] } } }],
});

describe('bench suite', () => {
  test('realtime results become figures against hello-world and raw, with the goals', () => {
    const figs = EXTRACT.realtime!(realtimeRun(6000, 30000));
    assert.equal(figs.length, 2);
    const [rt, heavy] = figs as [Figure, Figure];
    assert.equal(rt.case, 'omniserve (default)');
    assert.equal(rt.baseline, 'Hono hello-world');
    assert.equal(rt.ratio, 0.2);
    assert.equal(rt.goalRatio, 0.4);
    assert.equal(heavy.ratio, 0.75);
    assert.equal(heavy.goalRatio, 0.7);
    assert.equal(heavy.backend, 'native-cpu');
  });

  test('with the hand-written floor in the run: its ratio to hello-world, and omniserve against it', () => {
    const j = realtimeRun(6000, 30000);
    j.settings.variants.push({ id: 'floor', title: 'hand-written floor' });
    (j.realtime[0]!.summary as Record<string, unknown>)['floor'] = { requestsPerSec: 7500, p50Ms: 4, p99Ms: 8, problems: [] };
    const figs = EXTRACT.realtime!(j).filter((f) => f.metric.startsWith('req/s'));
    assert.deepEqual(figs.map((f) => [f.case, f.baseline, f.ratio, f.goalRatio]), [
      ['omniserve (default)', 'Hono hello-world', 0.2, 0.4],
      ['hand-written floor', 'Hono hello-world', 0.25, undefined],
      ['omniserve (default) against the hand-written floor', 'hand-written floor (floor.ts)', 0.8, undefined],
    ]);
  });

  test('core, async and batch results become figures; a zero or missing baseline gives none', () => {
    const core = EXTRACT.core!({ pairs: [
      { pair: 'bun:web-wasm', status: 'ok', report: { results: [
        { model: 'digits', batch: 64, raw: { rowsPerSec: 1000 }, predict: { rowsPerSec: 800, latencyMs: { p50: 1, p99: 3 } } },
        { model: 'digits', batch: 1024, raw: { rowsPerSec: 1000 }, predict: { rowsPerSec: 900 } },
        { model: 'wine', batch: 1, raw: { rowsPerSec: 0 }, predict: { rowsPerSec: 900 } },
      ] } },
      { pair: 'deno:web-webgpu', status: 'skipped' },
    ] });
    assert.deepEqual(core.map((f) => [f.runtime, f.backend, f.case, f.ratio]), [['bun', 'web-wasm', 'digits ×64', 0.8]]);
    const async = EXTRACT.async!({ runs: [
      { mode: 'live', workers: 2, jobsPerSec: 500, realtimeReqPerSec: 2000, failed: 0, bad: 0 },
      { mode: 'backlog', workers: 2, jobsPerSec: 900, realtimeReqPerSec: 2000 },
      { mode: 'live', workers: 1, jobsPerSec: 100, realtimeReqPerSec: 2000, failed: 3, bad: 0 },
    ] });
    assert.deepEqual(async.map((f) => [f.case, f.ratio, f.flagged]), [['2 workers', 0.25, undefined], ['1 worker', 0.05, '3 failed, 0 bad']]);
    const batch = EXTRACT.batch!({ rows: 1000, workers: 2, rawInference: { rowsPerSecond: 4e6 }, endToEnd: { rowsPerSecond: 1e6, summary: {} }, goals: { ratio: 0.5 } });
    assert.equal(batch[0]!.ratio, 0.25);
    assert.equal(batch[0]!.goalRatio, 0.5);
    const several = EXTRACT.batch!({ rows: 1000, workers: 2, goals: { ratio: 0.5 }, models: [
      { name: 'bundled', rawInference: { rowsPerSecond: 4e6 }, endToEnd: { rowsPerSecond: 1e6, summary: {} } },
      { name: 'mlp 30-256-256-1', rawInference: { rowsPerSecond: 5e5 }, endToEnd: { rowsPerSecond: 4e5, summary: { failedUnits: 1 } } },
    ] });
    assert.deepEqual(several.map((f) => [f.case, f.ratio, f.flagged]), [['1,000 rows, 2 workers', 0.25, undefined], ['1,000 rows, 2 workers, mlp 30-256-256-1', 0.8, '1 failed units/inputs']]);
  });

  test('stream and browser results: each model run against the pipe of its round, each page cell against Node\'s', () => {
    const stream = EXTRACT.stream!({ runs: [
      { mode: 'pipe', processes: 1, round: 1, eventsPerSec: 20000 }, { mode: 'model', processes: 1, round: 1, eventsPerSec: 15000, events: 10, outputs: 10 },
      { mode: 'pipe', processes: 1, round: 2, eventsPerSec: 10000 }, { mode: 'model', processes: 1, round: 2, eventsPerSec: 9000, events: 10, outputs: 9 },
    ], latency: [{ mode: 'model', processes: 1, fetchWaitMs: null, endToEndMs: { p50: 5, p99: 9 } }] });
    assert.deepEqual(stream.map((f) => [f.case, f.ratio, f.goalRatio, f.p99Ms, f.flagged]), [
      ['1 process', 0.75, 0.6, 9, undefined], ['1 process', 0.9, 0.6, 9, '1 events without output']]);
    // Runs on Bun are figures of their own, against Bun's pipe of the same round.
    const both = EXTRACT.stream!({ runs: [
      { mode: 'pipe', processes: 1, round: 1, eventsPerSec: 20000 }, { mode: 'model', processes: 1, round: 1, eventsPerSec: 15000 },
      { host: 'bun', mode: 'pipe', processes: 1, round: 1, eventsPerSec: 10000 }, { host: 'bun', mode: 'model', processes: 1, round: 1, eventsPerSec: 8000 },
    ], latency: [{ host: 'bun', mode: 'model', processes: 1, fetchWaitMs: null, endToEndMs: { p50: 6, p99: 12 } }] });
    assert.deepEqual(both.map((f) => [f.runtime, f.ratio, f.p99Ms]), [['node', 0.75, undefined], ['bun', 0.8, 12]]);
    const browser = EXTRACT.browser!({ paths: [
      { path: 'chromium:web-wasm', backend: 'web-wasm', cells: { 'digits×64': { rowsPerSec: 500, p50: 1, p99: 2 } } },
      { path: 'chromium:web-webgpu', backend: 'web-webgpu', error: 'no adapter', cells: {} },
      { path: 'node:native-cpu', backend: 'native-cpu', cells: { 'digits×64': { rowsPerSec: 1000 } } },
    ] });
    assert.deepEqual(browser.map((f) => [f.runtime, f.backend, f.case, f.ratio]), [['chromium', 'web-wasm', 'digits ×64', 0.5]]);
  });

  test('repeated runs fold into min / median / max; the goal is judged on the median and never met when flagged', () => {
    const runs = [realtimeRun(10000, 20000), realtimeRun(14000, 20000), realtimeRun(8000, 20000)].flatMap((j) => EXTRACT.realtime!(j));
    const folded = fold(runs);
    assert.equal(folded.length, 2);
    const rt = folded.find((f) => f.case === 'omniserve (default)')!;
    assert.equal(rt.runs, 3);
    assert.deepEqual(rt.ratio, { min: 0.4, median: 0.5, max: 0.7 });
    assert.deepEqual(rt.value, { min: 8000, median: 10000, max: 14000 });
    assert.equal(rt.goalMet, true);
    const flagged = fold([...runs, ...EXTRACT.realtime!(realtimeRun(15000, 20000, ['3 non-2xx']))]).find((f) => f.case === 'omniserve (default)')!;
    assert.equal(flagged.ratio.median, 0.6);
    assert.equal(flagged.goalMet, false);
    assert.deepEqual(flagged.flagged, ['3 non-2xx']);
  });

  test('a selection maps onto each scenario script, and what cannot run says why', () => {
    const sel = { runtimes: ['bun', 'deno'], backends: ['web-wasm'], quick: true };
    const core = plan('core', sel);
    assert.ok(core.run);
    assert.deepEqual(core.args, ['--quick', '--pairs', 'bun:web-wasm,deno:web-wasm']);
    const rt = plan('realtime', sel);
    assert.ok(rt.run);
    assert.deepEqual(rt.args, ['--quick', '--hosts', 'bun,deno', '--heavy-hosts', 'bun']);
    const async = plan('async', sel);
    assert.ok(!async.run);
    assert.match(async.why, /Node/);
    const stream = plan('stream', sel);
    assert.ok(stream.run);
    assert.deepEqual(stream.args, ['--quick', '--hosts', 'bun']);
    const streamDeno = plan('stream', { ...sel, runtimes: ['deno'] });
    assert.ok(!streamDeno.run);
    assert.match(streamDeno.why, /Node and Bun/);
    const batch = plan('batch', { runtimes: ['node'], backends: [], quick: true });
    assert.ok(batch.run);
    assert.deepEqual(batch.args, ['--rows', '1000000', '--files', '4']);
    assert.deepEqual(unsupported(sel), []);
    assert.match(unsupported({ ...sel, runtimes: ['workerd'] })[0]!, /workerd/);
  });

  test('report and charts: the table shows value, ratio with spread and the goal; the SVGs name every figure', async () => {
    const folded = fold([realtimeRun(10000, 20000), realtimeRun(14000, 20000)].flatMap((j) => EXTRACT.realtime!(j)));
    const results = {
      benchmark: 'suite', date: '2026-11-26T00:00:00.000Z', command: 'omniserve bench --scenario realtime', revision: 'abc', seconds: 1,
      machine: { cpu: 'cpu', cores: 2, memoryGiB: 1, os: 'os', loadavg: { before: [0, 0, 0], after: [0, 0, 0] }, runtimes: { node: '20' }, onnxruntime: {} },
      selection: { scenarios: ['realtime'], runtimes: ['node'], backends: [], quick: false, repeat: 2 }, notes: [],
      outcomes: [{ scenario: 'realtime', status: 'ok', runs: [{ n: 1, seconds: 1, code: 0, log: 'x' }], command: 'node --import tsx bench/realtime/run.ts' }],
      figures: folded,
    } as SuiteResults;
    const md = renderSuiteMarkdown(results, ['suite-ratios.svg', 'suite-realtime.svg']);
    assert.match(md, /\| realtime \| node \| auto \| omniserve \(default\) \| 12,000 \(10,000–14,000\) req\/s \| Hono hello-world \| 20,000 \| \*\*0\.60× \(0\.50×–0\.70×\)\*\* \| yes \(≥ 0\.40×\)/);
    assert.match(md, /!\[ratios\]\(suite-ratios\.svg\)/);
    assert.match(md, /npx omniserve bench --scenario realtime/);
    const svg = await renderSvg(ratioChart(headline(folded), 'headline'));
    assert.match(svg, /^<svg/);
    assert.ok(svg.includes('realtime · node · omniserve (default)'), 'the bar is labelled');
    assert.ok(svg.includes('heavy MLP'), 'the heavy figure is in the headline (it has a goal)');
    const values = await renderSvg(valueChart(folded, 'realtime'));
    assert.ok(values.includes('baseline: Hono hello-world'));
  });
});
