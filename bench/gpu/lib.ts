/**
 * bench/gpu's pure parts: argument parsing, the skip rules, deterministic inputs, and the
 * report (ratios, goals, Markdown). No host module here, so measure.ts and report.ts share
 * it inside their bundles and lib.test.ts checks it in milliseconds.
 * @module
 */
import type { Measurement } from '../core/stats.ts';

/** Identifies the measure.ts report format. */
export const MEASURE_SCHEMA = 'omniserve-gpu-measure/1';
/** Identifies the merged report format (bench/results/gpu.json). */
export const REPORT_SCHEMA = 'omniserve-gpu-report/1';
/** What map-probe.ts writes: the host's read-back (mapAsync) latency apart from onnxruntime. */
export const MAP_PROBE_SCHEMA = 'omniserve-gpu-map-probe/1';

/** map-probe.ts's report. */
export interface MapProbeReport {
  readonly schema: typeof MAP_PROBE_SCHEMA;
  readonly host: string;
  readonly adapter?: string;
  readonly error?: string;
  readonly cases?: readonly { readonly iterations: number; readonly mapAfterMs: number; readonly pumped?: boolean; readonly mapAsyncMs: { readonly min: number; readonly p50: number; readonly max: number } }[];
}

/** Parses and checks a map-probe.ts report. */
export function parseMapProbe(text: string): MapProbeReport {
  const r = JSON.parse(text) as Partial<MapProbeReport>;
  if (r.schema !== MAP_PROBE_SCHEMA) throw new Error(`not a bench/gpu map probe (schema ${String(r.schema)})`);
  return r as MapProbeReport;
}

/** What serve-load.ts writes: one served measurement (one server on one backend). */
export const SERVED_SCHEMA = 'omniserve-gpu-served/1';

/** One `omniserve serve` on one backend under serve-load.ts's load. */
export interface ServedReport {
  readonly schema: typeof SERVED_SCHEMA;
  /** The backend asked for (`native-cpu`, `native-webgpu`, …). */
  readonly label: string;
  /** The backend the server reported for the model (`/health`): a fallback shows here. */
  readonly backend?: string;
  readonly host: { readonly name: string; readonly version: string };
  readonly createdAt: string;
  readonly settings?: { readonly model: string; readonly rowsPerRequest: number; readonly width: number; readonly concurrency: number; readonly seconds: number; readonly warmupSeconds: number };
  readonly available: boolean;
  readonly reason?: string;
  readonly requests?: number;
  readonly errors?: number;
  readonly firstError?: string;
  readonly seconds?: number;
  readonly rowsPerSec?: number;
  readonly latencyMs?: { readonly p50: number; readonly p90: number; readonly p99: number };
}

/** Parses and checks a serve-load.ts report. */
export function parseServedReport(text: string): ServedReport {
  const r = JSON.parse(text) as Partial<ServedReport>;
  if (r.schema !== SERVED_SCHEMA) throw new Error(`not a bench/gpu served report (schema ${String(r.schema)})`);
  if (typeof r.label !== 'string' || typeof r.available !== 'boolean') throw new Error('bench/gpu served report lacks label or available');
  if (r.available && !(typeof r.rowsPerSec === 'number' && r.rowsPerSec > 0)) throw new Error('bench/gpu served report: available without rows/s');
  return r as ServedReport;
}

/**
 * The issue's served goal: the realtime server on native WebGPU serves the large model at
 * least 5× the rows/s it serves on the CPU backend. A server that fell back to another
 * backend than the one asked for does not count.
 */
export function servedRatio(served: readonly ServedReport[]): Ratio {
  const rate = (label: string) => {
    const r = served.find((x) => x.label === label);
    return r?.available && r.backend === label ? r.rowsPerSec : undefined;
  };
  const a = rate('native-webgpu');
  const b = rate('native-cpu');
  const value = a !== undefined && b !== undefined ? a / b : null;
  const missing = (label: string) => {
    const r = served.find((x) => x.label === label);
    return !r ? `${label} not measured` : !r.available ? `${label}: ${r.reason ?? 'unavailable'}` : `${label} ran on ${r.backend}`;
  };
  return {
    name: 'served: native WebGPU ÷ CPU', model: served.find((x) => x.settings)?.settings?.model ?? 'heavy-mlp',
    batch: served.find((x) => x.settings)?.settings?.rowsPerRequest ?? 0, numerator: 'native-webgpu', denominator: 'native-cpu',
    value, goal: '≥ 5', met: value === null ? null : value >= 5,
    ...(value === null ? { note: a === undefined ? missing('native-webgpu') : missing('native-cpu') } : {}),
  };
}

/** One batch size of one model on one backend. */
export interface CaseResult {
  readonly batch: number;
  readonly status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or what failed. */
  readonly reason?: string;
  /** The first run at this batch size (shader compilation, buffer allocation, upload). */
  readonly firstRunMs?: number;
  readonly measurement?: Measurement;
  /** The first values of the first output row: compared across backends by the report. */
  readonly outputHead?: readonly number[];
  /** navigator.gpu calls per measured run and their time (web-webgpu): where the run goes. */
  readonly gpuCalls?: Readonly<Record<string, { readonly perRun: number; readonly msPerRun: number }>>;
}

/** One model on one backend. */
export interface ModelResult {
  readonly model: string;
  readonly path: string;
  /** Per-row input shape (the batch dimension left out). */
  readonly rowShape?: readonly number[];
  /** Session creation (weights upload on a GPU). */
  readonly createMs?: number;
  readonly error?: string;
  readonly cases: readonly CaseResult[];
}

/** What measure.ts writes for one backend. */
export interface MeasureReport {
  readonly schema: typeof MEASURE_SCHEMA;
  readonly backend: string;
  /** A label that tells variants of one backend apart (e.g. `web-webgpu/jsep`); defaults to the backend. */
  readonly label: string;
  readonly host: { readonly name: string; readonly version: string };
  readonly available: boolean;
  /** Why the backend is unavailable. */
  readonly reason?: string;
  /** The backend's probe (versions, WebGPU adapter). */
  readonly probe?: Record<string, unknown>;
  /** navigator.gpu's adapter where the host has one: features and the limits that matter. */
  readonly webgpuAdapter?: Record<string, unknown>;
  readonly plan: MeasurePlan;
  readonly models: readonly ModelResult[];
  readonly startedAt: string;
  readonly wallMs?: number;
}

/** How long and how far to measure. */
export interface MeasurePlan {
  readonly batches: readonly number[];
  /** Measured seconds per batch size. */
  readonly seconds: number;
  /** Unmeasured seconds per batch size after the first run. */
  readonly warmupSeconds: number;
  /** A batch size whose run is projected (from the last smaller one) to take longer is skipped. */
  readonly maxRunMs: number;
  /** A batch size whose input tensors would be larger is skipped. */
  readonly maxInputMiB: number;
  /** Wall seconds for the whole measure.ts run; what is left when it is spent is skipped. */
  readonly budgetSeconds: number;
}

/** Parses `1,64,1024`: positive integers, ascending, no repeats. */
export function parseBatches(s: string): number[] {
  const out = s.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number);
  if (out.length === 0) throw new Error(`--batches "${s}": expected e.g. 1,64,1024`);
  for (const b of out) if (!Number.isInteger(b) || b < 1) throw new Error(`--batches "${s}": ${b} is not a positive integer`);
  const sorted = [...new Set(out)].sort((a, b) => a - b);
  return sorted;
}

/** Parses a positive number option. */
export function positive(name: string, s: string): number {
  const n = Number(s);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} "${s}": expected a positive number`);
  return n;
}

/**
 * Why a batch size must be skipped before it runs, or undefined to run it. `last` is the
 * last measured (smaller) batch size of the same model and its median run time.
 */
export function skipReason(
  plan: MeasurePlan, batch: number, inputBytes: number, elapsedMs: number,
  last?: { batch: number; p50Ms: number },
): string | undefined {
  const mib = inputBytes / 2 ** 20;
  if (mib > plan.maxInputMiB) return `input ${mib.toFixed(0)} MiB > limit ${plan.maxInputMiB} MiB`;
  if (elapsedMs >= plan.budgetSeconds * 1000) return `time budget of ${plan.budgetSeconds} s spent`;
  if (last) {
    // Run time grows at most linearly in the batch once the device is busy.
    const projected = (last.p50Ms * batch) / last.batch;
    if (projected > plan.maxRunMs) return `projected ${(projected / 1000).toFixed(1)} s per run (from batch ${last.batch}) > limit ${(plan.maxRunMs / 1000).toFixed(1)} s`;
    // Warm-up plus measurement plus the first run must fit in what is left.
    const need = plan.seconds * 1000 + plan.warmupSeconds * 1000 + 2 * projected;
    const left = plan.budgetSeconds * 1000 - elapsedMs;
    if (need > left) return `needs ~${(need / 1000).toFixed(0)} s, ${(left / 1000).toFixed(0)} s of the time budget left`;
  }
  return undefined;
}

/** `n` floats in [-1, 1) from a seeded PRNG (mulberry32): the same inputs on every backend. */
export function seededFloats(n: number, seed = 1024): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Parses and checks a measure.ts report (a file written by another process, maybe cut short). */
export function parseMeasureReport(text: string): MeasureReport {
  const r = JSON.parse(text) as Partial<MeasureReport>;
  if (r.schema !== MEASURE_SCHEMA) throw new Error(`not a bench/gpu measure report (schema ${String(r.schema)})`);
  if (typeof r.backend !== 'string' || typeof r.available !== 'boolean' || !Array.isArray(r.models)) {
    throw new Error('bench/gpu measure report lacks backend, available or models');
  }
  return { ...r, label: r.label ?? r.backend } as MeasureReport;
}

/** One ratio of the report, with its goal. */
export interface Ratio {
  readonly name: string;
  readonly model: string;
  readonly batch: number;
  readonly numerator: string;
  readonly denominator: string;
  /** numerator rows/s ÷ denominator rows/s; null when either side is missing. */
  readonly value: number | null;
  /** The goal as text, e.g. `≥ 9`. */
  readonly goal: string;
  readonly met: boolean | null;
  readonly note?: string;
}

/** rows/s of `label` on `model` at `batch`, if measured. */
export function rowsPerSec(reports: readonly MeasureReport[], label: string, model: string, batch: number): number | undefined {
  const c = reports.find((r) => r.label === label)?.models.find((m) => m.model === model)?.cases.find((x) => x.batch === batch);
  return c?.status === 'ok' ? c.measurement?.rowsPerSec : undefined;
}

/** The issue's two in-process goals on the large MLP at batch 1024 (plus the same ratios on every model). */
export function ratios(reports: readonly MeasureReport[], batch = 1024): Ratio[] {
  const models = [...new Set(reports.flatMap((r) => r.models.map((m) => m.model)))];
  const out: Ratio[] = [];
  for (const model of models) {
    const heavy = model === 'heavy-mlp';
    const pairs: [string, string, string, (v: number) => boolean, string][] = [
      ['native WebGPU ÷ CPU', 'native-webgpu', 'native-cpu', (v) => v >= 9, '≥ 9'],
      ['web WebGPU ÷ native WebGPU', 'web-webgpu', 'native-webgpu', (v) => v >= 1 / 3, '≥ 0.33 (within 3×)'],
      ['web WebGPU ÷ CPU', 'web-webgpu', 'native-cpu', () => true, '(information)'],
      ['web WebGPU, device polled every ms ÷ native WebGPU', 'web-webgpu/polled', 'native-webgpu', () => true, '(information)'],
    ];
    for (const [name, num, den, ok, goal] of pairs) {
      const a = rowsPerSec(reports, num, model, batch);
      const b = rowsPerSec(reports, den, model, batch);
      const value = a !== undefined && b !== undefined && b > 0 ? a / b : null;
      const isGoal = heavy && goal !== '(information)';
      out.push({
        name, model, batch, numerator: num, denominator: den, value,
        goal: isGoal ? goal : '(information)',
        met: value === null || !isGoal ? null : ok(value),
        ...(value === null ? { note: `${a === undefined ? num : den} not measured at batch ${batch}` } : {}),
      });
    }
  }
  return out;
}

/** Largest |a-b| / max(1,|b|) over the output heads of two backends, per model and batch: a wrong GPU kernel shows here. */
export function outputAgreement(reports: readonly MeasureReport[], reference = 'native-cpu'): { label: string; model: string; batch: number; maxRelDiff: number }[] {
  const ref = reports.find((r) => r.label === reference);
  if (!ref) return [];
  const out: { label: string; model: string; batch: number; maxRelDiff: number }[] = [];
  for (const r of reports) {
    if (r === ref) continue;
    for (const m of r.models) {
      for (const c of m.cases) {
        const rc = ref.models.find((x) => x.model === m.model)?.cases.find((x) => x.batch === c.batch);
        if (!c.outputHead || !rc?.outputHead) continue;
        let d = 0;
        for (let i = 0; i < Math.min(c.outputHead.length, rc.outputHead.length); i++) {
          d = Math.max(d, Math.abs(c.outputHead[i]! - rc.outputHead[i]!) / Math.max(1, Math.abs(rc.outputHead[i]!)));
        }
        out.push({ label: r.label, model: m.model, batch: c.batch, maxRelDiff: d });
      }
    }
  }
  return out;
}

/**
 * How run time grows with the batch on one backend and model: the median run at the smallest
 * and at the largest measured batch. A GPU path whose batch-1024 run costs about what its
 * batch-1 run costs is bound by fixed per-run costs (dispatch, synchronisation, read-back),
 * not by its kernels; one that grows with the batch is bound by the kernels (or the adapter).
 */
export function scaling(reports: readonly MeasureReport[]): { label: string; model: string; small: number; smallMs: number; large: number; largeMs: number; fixedShare: number }[] {
  const out: { label: string; model: string; small: number; smallMs: number; large: number; largeMs: number; fixedShare: number }[] = [];
  for (const r of reports) {
    for (const m of r.models) {
      const ok = m.cases.filter((c) => c.status === 'ok' && c.measurement);
      if (ok.length < 2) continue;
      const a = ok[0]!;
      const b = ok[ok.length - 1]!;
      const smallMs = a.measurement!.latencyMs.p50;
      const largeMs = b.measurement!.latencyMs.p50;
      out.push({ label: r.label, model: m.model, small: a.batch, smallMs, large: b.batch, largeMs, fixedShare: largeMs > 0 ? Math.min(1, smallMs / largeMs) : Number.NaN });
    }
  }
  return out;
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(digits));
const fmtRate = (x: number | undefined) => (x === undefined ? '–' : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));

/** The Markdown page of the merged report. */
export function renderMarkdown(report: {
  machine: Record<string, unknown>; rehearsal: boolean; reports: readonly MeasureReport[];
  ratios: readonly Ratio[]; agreement: readonly { label: string; model: string; batch: number; maxRelDiff: number }[];
  notes: readonly string[]; served?: readonly ServedReport[]; mapProbe?: MapProbeReport;
}): string {
  const lines: string[] = [];
  lines.push(`# bench/gpu${report.rehearsal ? ' (CPU rehearsal: not GPU figures)' : ''}`, '');
  lines.push('Raw session runs through omniserve\'s backend adapter (`InferenceHandle.run`: tensors in, tensors out, results read back to the CPU), one backend per process, batch sizes in turn: first run, warm-up, then back-to-back runs for a fixed time.', '');
  lines.push('## Machine', '');
  for (const [k, v] of Object.entries(report.machine)) lines.push(`- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  lines.push('', '## Backends', '', '| backend | host | available | adapter / reason |', '| --- | --- | --- | --- |');
  for (const r of report.reports) {
    const adapter = (r.probe?.['adapter'] as string | undefined) ?? '';
    lines.push(`| ${r.label} | ${r.host.name} ${r.host.version} | ${r.available ? 'yes' : 'no'} | ${(r.available ? adapter : r.reason ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`);
  }
  lines.push('', '## Throughput', '', '| model | batch | backend | rows/s | p50 ms | p90 ms | first run ms | runs | note |', '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  const models = [...new Set(report.reports.flatMap((r) => r.models.map((m) => m.model)))];
  const batches = [...new Set(report.reports.flatMap((r) => r.models.flatMap((m) => m.cases.map((c) => c.batch))))].sort((a, b) => a - b);
  for (const model of models) {
    for (const batch of batches) {
      for (const r of report.reports) {
        const m = r.models.find((x) => x.model === model);
        const c = m?.cases.find((x) => x.batch === batch);
        if (!c) continue;
        const l = c.measurement?.latencyMs;
        lines.push(`| ${model} | ${batch} | ${r.label} | ${fmtRate(c.measurement?.rowsPerSec)} | ${fmt(l?.p50, 2)} | ${fmt(l?.p90, 2)} | ${fmt(c.firstRunMs)} | ${c.measurement?.runs ?? '–'} | ${c.status === 'ok' ? '' : `${c.status}: ${(c.reason ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 160)}`} |`);
      }
    }
  }
  const errs = report.reports.flatMap((r) => r.models.filter((m) => m.error).map((m) => `- ${r.label} × ${m.model}: ${m.error}`));
  if (errs.length) lines.push('', '## Models that did not load', '', ...errs);
  const created = report.reports.flatMap((r) => r.models.filter((m) => m.createMs !== undefined).map((m) => `${r.label} × ${m.model}: ${fmt(m.createMs, 0)} ms`));
  if (created.length) lines.push('', `Session creation (weights upload on a GPU): ${created.join('; ')}.`);
  lines.push('', '## Ratios (rows/s ÷ rows/s)', '', '| ratio | model | batch | value | goal | met |', '| --- | --- | ---: | ---: | --- | --- |');
  for (const q of report.ratios) {
    lines.push(`| ${q.name} | ${q.model} | ${q.batch} | ${q.value === null ? `– (${q.note})` : `${q.value.toFixed(2)}×`} | ${q.goal} | ${q.met === null ? '–' : q.met ? 'yes' : 'no'} |`);
  }
  const served = report.served ?? [];
  if (served.length) {
    const st = served.find((x) => x.settings)?.settings;
    lines.push('', '## Served: `omniserve serve` on each backend', '',
      `The whole server (Deno, bundled \`runtimes/deno/main.ts\`) with the model alone, one backend pinned per server (\`OMNISERVE_BACKEND\`), under serve-load.ts: ` +
      (st ? `Open Inference Protocol requests of ${st.rowsPerRequest} rows × ${st.width} float32 as binary tensor data, ${st.concurrency} in flight, ${st.seconds} s after ${st.warmupSeconds} s of warm-up. ` : '') +
      'rows/s counts rows answered (every answer is checked for one output per row).', '',
      '| asked | ran on | rows/s | p50 ms | p99 ms | requests | errors | note |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const x of served) {
      lines.push(`| ${x.label} | ${x.backend ?? '–'} | ${fmtRate(x.rowsPerSec)} | ${fmt(x.latencyMs?.p50)} | ${fmt(x.latencyMs?.p99)} | ${x.requests ?? '–'} | ${x.errors ?? '–'} | ${(x.available ? x.firstError ?? '' : x.reason ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 160)} |`);
    }
    const q = servedRatio(served);
    lines.push('', `${q.name}: ${q.value === null ? `– (${q.note})` : `**${q.value.toFixed(2)}×**`} (goal ${q.goal}${q.met === null ? '' : q.met ? ': met' : ': not met'}).`);
  }
  if (report.agreement.length) {
    const worst = [...report.agreement].sort((a, b) => b.maxRelDiff - a.maxRelDiff).slice(0, 6);
    lines.push('', 'Output agreement with native-cpu (first output row, largest relative difference): ' +
      worst.map((w) => `${w.label} × ${w.model} @${w.batch}: ${w.maxRelDiff.toExponential(1)}`).join('; ') + '.');
  }
  const sc = scaling(report.reports);
  if (sc.length) {
    lines.push('', '## Fixed cost or kernels?', '', 'Median run at the smallest and the largest measured batch: a share near 100 % means the run time is a fixed per-run cost (dispatch, synchronisation, read-back), not the kernels.', '',
      '| backend | model | small batch | p50 ms | large batch | p50 ms | fixed share |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const x of sc) lines.push(`| ${x.label} | ${x.model} | ${x.small} | ${fmt(x.smallMs, 2)} | ${x.large} | ${fmt(x.largeMs, 2)} | ${(x.fixedShare * 100).toFixed(0)} % |`);
  }
  const withCalls = report.reports.flatMap((r) => r.models.flatMap((m) => m.cases.filter((c) => c.gpuCalls).map((c) => ({ r, m, c }))));
  if (withCalls.length) {
    const names = [...new Set(withCalls.flatMap((x) => Object.keys(x.c.gpuCalls!)))];
    lines.push('', '## Where a web WebGPU run goes', '',
      'navigator.gpu calls per measured run, as count × ms per run. `mapAsync` (reading the outputs back) holds the GPU work and the host\'s wait for it; what the calls leave of the run is onnxruntime-web itself (WASM, asyncify).', '',
      `| backend | model | batch | p50 ms | ${names.join(' | ')} | rest ms |`, `| --- | --- | ---: | ---: | ${names.map(() => '---:').join(' | ')} | ---: |`);
    for (const { r, m, c } of withCalls) {
      const mean = c.measurement!.latencyMs.mean;
      const inCalls = names.reduce((s, n) => s + (c.gpuCalls![n]?.msPerRun ?? 0), 0);
      lines.push(`| ${r.label} | ${m.model} | ${c.batch} | ${fmt(c.measurement!.latencyMs.p50, 2)} | ${names.map((n) => { const v = c.gpuCalls![n]; return v ? `${fmt(v.perRun, 1)} × ${fmt(v.msPerRun, 2)}` : '–'; }).join(' | ')} | ${fmt(mean - inCalls, 2)} |`);
    }
  }
  const probe = report.mapProbe;
  if (probe) {
    lines.push('', '## The host\'s read-back floor (map-probe.ts)', '',
      `\`mapAsync\` of a 256-byte buffer after a compute pass of N dependent multiply-adds per thread (65,536 threads), on ${probe.host}${probe.adapter ? ` (${probe.adapter})` : ''}: timed from \`submit\` when called at once (as onnxruntime-web does); alone when called 100 ms later, when the GPU is surely done (what is left is the host's own wait); and at once while an empty \`queue.submit([])\` every millisecond polls the device.`, '');
    if (probe.error) lines.push(`Not measured: ${probe.error}.`);
    else {
      lines.push('| N | at once: p50 ms (min–max) | after 100 ms: p50 ms (min–max) | at once, polled: p50 ms (min–max) |', '| ---: | ---: | ---: | ---: |');
      for (const n of [...new Set((probe.cases ?? []).map((c) => c.iterations))]) {
        const cell = (after: number, pumped: boolean) => {
          const c = probe.cases!.find((x) => x.iterations === n && x.mapAfterMs === after && Boolean(x.pumped) === pumped);
          return c ? `${fmt(c.mapAsyncMs.p50, 2)} (${fmt(c.mapAsyncMs.min, 2)}–${fmt(c.mapAsyncMs.max, 2)})` : '–';
        };
        lines.push(`| ${n.toLocaleString('en-US')} | ${cell(0, false)} | ${cell(100, false)} | ${cell(0, true)} |`);
      }
    }
  }
  if (report.notes.length) lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
