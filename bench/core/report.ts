/**
 * bench/results/core.md from the collected results: one table per model, rows host ×
 * backend × batch, throughput of each path next to its ratio to raw from the same run.
 * @module
 */
import { MODELS } from './fixtures.ts';
import { fmtMs, fmtRate, fmtRatio, mdEscape, mdRow, reproduceSection } from './format.ts';
import type { CoreResults, PairOutcome } from './types.ts';


function pairsTable(pairs: readonly PairOutcome[]): string[] {
  return [
    mdRow(['host × backend', 'status', 'onnxruntime', 'adapter', 'seconds', 'reason']),
    mdRow(['---', '---', '---', '---', '---:', '---']),
    ...pairs.map((p) => mdRow([
      p.pair, p.status, String(p.report?.probe?.version ?? ''), String(p.report?.probe?.adapter ?? ''),
      p.seconds.toFixed(0), mdEscape(p.reason ?? ''),
    ])),
  ];
}

function modelTable(model: string, pairs: readonly PairOutcome[]): string[] {
  const lines = [
    mdRow(['host × backend', 'batch', 'raw rows/s', 'raw p50 / p99 ms', 'infer rows/s (×raw)', 'predict rows/s (×raw)', 'predict p50 / p99 ms']),
    mdRow(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
  ];
  for (const p of pairs) {
    for (const r of p.report?.results ?? []) {
      if (r.model !== model) continue;
      lines.push(mdRow([
        p.pair, r.batch, fmtRate(r.raw.rowsPerSec), `${fmtMs(r.raw.latencyMs.p50)} / ${fmtMs(r.raw.latencyMs.p99)}`,
        `${fmtRate(r.infer.rowsPerSec)} (${fmtRatio(r.ratio.infer)})`,
        `${fmtRate(r.predict.rowsPerSec)} (**${fmtRatio(r.ratio.predict)}**)`,
        `${fmtMs(r.predict.latencyMs.p50)} / ${fmtMs(r.predict.latencyMs.p99)}`,
      ]));
    }
  }
  return lines;
}

/** Renders the Markdown report. */
export function renderMarkdown(res: CoreResults): string {
  const m = res.machine;
  const plan = res.pairs.find((p) => p.report)?.report?.plan;
  return [
    '# bench/core: in-process baseline',
    '',
    `${res.date} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · ${m.os} · load average ${m.loadavg.before.join(' ')} before, ` +
      `${m.loadavg.after.join(' ')} after (a shared machine: compare ratios, not absolute numbers, across runs).`,
    '',
    `Code: ${res.revision}. Runtimes: ${Object.entries(m.runtimes).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
      `${Object.entries(m.onnxruntime).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    ...(plan ? [
      `Per model × batch, after ${plan.warmupSeconds} s of warm-up per path, the paths take turns of ${plan.turnSeconds} s ` +
        `(at least one call), rotating who goes first, until each ran ${plan.seconds} s. rows/s = rows scored / wall time; latencies are per call ` +
        '(one call scores `batch` rows), nearest-rank percentiles.',
      '',
    ] : []),
    `- **raw**: ${res.rawMeans.replace(/^raw = /, '')}`,
    '- **infer**: `Model.infer(tensors)`: name/dtype/shape/finite checks, then the same run.',
    '- **predict**: `Model.predict(records)`: JSON-like records with named features → tensors, run, post-processing ' +
      '(sigmoid/softmax, labels, one result object per row).',
    '- **×raw**: rows/s of the path ÷ rows/s of raw, measured in the same process, turn by turn. 1.00× means no overhead; ' +
      'predict at batch 1 is the number that matters for realtime serving.',
    '',
    '## Pairs',
    '',
    ...pairsTable(res.pairs),
    '',
    ...MODELS.flatMap((model) => [`## ${model}`, '', ...modelTable(model, res.pairs), '']),
    ...reproduceSection(res.command),
    'One pair alone: `node --import tsx bench/core/core.bench.ts --backend native-cpu` (Node), ' +
      '`node_modules/.bin/bun bench/core/core.bench.ts --backend web-wasm` (Bun), ' +
      '`node_modules/.bin/deno run -A bench/core/core.bench.ts --backend web-webgpu` (Deno). ' +
      'Raw numbers per call, with p90, mean, min and max, are in `core.json`.',
    '',
  ].join('\n');
}
