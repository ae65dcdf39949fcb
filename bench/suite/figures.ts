/**
 * The suite's common currency: every scenario's results file (bench/results/<scenario>.json,
 * each in its own shape) read into figures of one shape — a value, the baseline measured
 * beside it in the same run, their ratio and the issue's goal where there is one — and
 * figures of repeated runs folded into min / median / max.
 * @module
 */

/** One measured figure of one run. */
export interface Figure {
  readonly scenario: string;
  readonly runtime: string;
  /** Backend or mode ('auto' where the server picks). */
  readonly backend: string;
  /** What was measured within the scenario: a model and batch, a server variant, a worker count. */
  readonly case: string;
  readonly metric: string;
  readonly unit: string;
  readonly value: number;
  /** The baseline measured in the same run, beside this figure. */
  readonly baseline: string;
  readonly baselineValue: number;
  /** value ÷ baselineValue. */
  readonly ratio: number;
  /** The issue's goal on the ratio (at least), if it sets one. */
  readonly goalRatio?: number;
  /** Latency beside the throughput, where the scenario reports it. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** A run with errors (non-2xx, failed units) is flagged and never meets a goal. */
  readonly flagged?: string;
}

/** Min, median and max over repeated runs. */
export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/** Figures of the same scenario/runtime/backend/case/metric over repeated runs. */
export interface FoldedFigure extends Omit<Figure, 'value' | 'baselineValue' | 'ratio' | 'p50Ms' | 'p99Ms' | 'flagged'> {
  readonly runs: number;
  readonly value: Spread;
  readonly baselineValue: Spread;
  readonly ratio: Spread;
  readonly p50Ms?: Spread;
  readonly p99Ms?: Spread;
  readonly flagged: readonly string[];
  /** Median ratio at or above the goal, and no flagged run. */
  readonly goalMet?: boolean;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- results files are read as data
const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const fig = (f: Omit<Figure, 'ratio'>): Figure[] =>
  num(f.value) && num(f.baselineValue) && f.baselineValue > 0 ? [{ ...f, ratio: f.value / f.baselineValue }] : [];

/** bench/core: predict rows/s against the backend's raw session run, per host × backend, model, batch. */
function core(j: Json): Figure[] {
  const out: Figure[] = [];
  for (const p of j.pairs ?? []) {
    if (p.status !== 'ok') continue;
    const [runtime, backend] = String(p.pair).split(':');
    for (const r of p.report?.results ?? []) {
      if (r.batch !== 1 && r.batch !== 64) continue;
      out.push(...fig({
        scenario: 'core', runtime: runtime!, backend: backend!, case: `${r.model} ×${r.batch}`,
        metric: 'predict rows/s', unit: 'rows/s', value: r.predict?.rowsPerSec, baseline: 'raw session run', baselineValue: r.raw?.rowsPerSec,
        p50Ms: r.predict?.latencyMs?.p50, p99Ms: r.predict?.latencyMs?.p99,
      }));
    }
  }
  return out;
}

/**
 * bench/realtime: req/s against a Hono hello-world (omniserve's variants and the hand-written
 * floor), omniserve's against the floor's (what omniserve adds to the job); heavy MLP rows/s
 * against raw in-process.
 */
function realtime(j: Json): Figure[] {
  const out: Figure[] = [];
  const titles = new Map<string, string>((j.settings?.variants ?? []).map((v: Json) => [v.id, v.title]));
  for (const h of j.realtime ?? []) {
    const hello = h.summary?.hello;
    for (const [id, s] of Object.entries<Json>(h.summary ?? {})) {
      if (id === 'hello') continue;
      out.push(...fig({
        scenario: 'realtime', runtime: h.host, backend: 'auto', case: titles.get(id) ?? id,
        metric: 'req/s, Redis features', unit: 'req/s', value: s.requestsPerSec, baseline: 'Hono hello-world', baselineValue: hello?.requestsPerSec,
        ...(id === 'omniserve' ? { goalRatio: j.goals?.ratio?.[h.host] } : {}),
        p50Ms: s.p50Ms, p99Ms: s.p99Ms, ...(s.problems?.length ? { flagged: s.problems.join('; ') } : {}),
      }));
    }
    const floor = h.summary?.floor;
    const omni = h.summary?.omniserve;
    if (floor && omni) {
      const problems = [...(omni.problems ?? []), ...(floor.problems ?? [])];
      out.push(...fig({
        scenario: 'realtime', runtime: h.host, backend: 'auto', case: `${titles.get('omniserve') ?? 'omniserve'} against the hand-written floor`,
        metric: 'req/s, Redis features', unit: 'req/s', value: omni.requestsPerSec, baseline: 'hand-written floor (floor.ts)', baselineValue: floor.requestsPerSec,
        p50Ms: omni.p50Ms, p99Ms: omni.p99Ms, ...(problems.length ? { flagged: problems.join('; ') } : {}),
      }));
    }
  }
  for (const h of j.heavy ?? []) {
    for (const [id, s] of Object.entries<Json>(h.served ?? {})) {
      out.push(...fig({
        scenario: 'realtime', runtime: h.host, backend: h.raw?.[0]?.backend ?? 'auto', case: `heavy MLP, ${s.rowsPerRequest}-row ${s.oip ? 'binary OIP ' : ''}requests`,
        metric: 'served rows/s', unit: 'rows/s', value: s.rowsPerSec, baseline: 'raw in-process batch 64', baselineValue: h.rawRowsPerSec,
        ...(id === 'batch64' ? { goalRatio: j.goals?.heavyRatio } : {}),
        p50Ms: s.p50Ms, p99Ms: s.p99Ms, ...(s.problems?.length ? { flagged: s.problems.join('; ') } : {}),
      }));
    }
  }
  return out;
}

/** bench/async: jobs/s (live: submitted while workers run) against realtime req/s of the same server. */
function async(j: Json): Figure[] {
  return (j.runs ?? []).filter((r: Json) => r.mode === 'live').flatMap((r: Json) => fig({
    scenario: 'async', runtime: 'node', backend: 'auto', case: `${r.workers} worker${r.workers === 1 ? '' : 's'}`,
    metric: 'jobs/s', unit: 'jobs/s', value: r.jobsPerSec, baseline: 'realtime POST /predict', baselineValue: r.realtimeReqPerSec,
    p50Ms: r.endToEndLatencyMs?.p50, p99Ms: r.endToEndLatencyMs?.p99,
    ...(r.failed || r.bad ? { flagged: `${r.failed} failed, ${r.bad} bad` } : {}),
  }));
}

/**
 * bench/batch: end-to-end rows/s against raw in-process inference on the same model; one
 * figure per model when the run scored several (the bundled one first).
 */
function batch(j: Json): Figure[] {
  const runs: Json[] = j.models ?? [{ endToEnd: j.endToEnd, rawInference: j.rawInference }];
  return runs.flatMap((m, i) => {
    const e = m.endToEnd ?? {};
    const raw = m.rawInference ?? {};
    const failed = (e.summary?.failedUnits ?? 0) + (e.summary?.failedInputs ?? 0);
    return fig({
      scenario: 'batch', runtime: 'node', backend: 'native-cpu',
      case: `${Number(j.rows).toLocaleString('en-US')} rows, ${j.workers} workers${m.name && i > 0 ? `, ${m.name}` : ''}`,
      metric: 'rows/s end to end', unit: 'rows/s', value: e.rowsPerSecond, baseline: 'raw in-process inference', baselineValue: raw.rowsPerSecond,
      goalRatio: j.goals?.ratio, ...(failed ? { flagged: `${failed} failed units/inputs` } : {}),
    });
  });
}

/** bench/stream: events/s of the model pipeline against the no-op consume → produce pipe of the same round. */
function stream(j: Json): Figure[] {
  const runs: Json[] = j.runs ?? [];
  const host = (x: Json): string => x.host ?? 'node';
  const latency = (r: Json) => (j.latency ?? []).find((l: Json) => l.mode === 'model' && host(l) === host(r) && l.processes === r.processes && l.fetchWaitMs == null);
  return runs.filter((r) => r.mode === 'model').flatMap((r) => {
    const pipe = runs.find((x) => x.mode === 'pipe' && host(x) === host(r) && x.processes === r.processes && x.round === r.round);
    const lat = latency(r);
    return fig({
      scenario: 'stream', runtime: host(r), backend: 'auto', case: `${r.processes} process${r.processes === 1 ? '' : 'es'}`,
      metric: 'events/s end to end', unit: 'events/s', value: r.eventsPerSec, baseline: 'no-op consume → produce pipe', baselineValue: pipe?.eventsPerSec,
      goalRatio: j.goals?.ratio ?? 0.6, p50Ms: lat?.endToEndMs?.p50, p99Ms: lat?.endToEndMs?.p99,
      ...(r.outputs !== undefined && r.events !== undefined && r.outputs < r.events ? { flagged: `${r.events - r.outputs} events without output` } : {}),
    });
  });
}

/** bench/browser: rows/s in headless Chromium against the same model and batch in Node (onnxruntime-node CPU). */
function browser(j: Json): Figure[] {
  const paths: Json[] = j.paths ?? [];
  const node = paths.find((p) => p.path === 'node:native-cpu');
  return paths.filter((p) => String(p.path).startsWith('chromium:') && !p.error).flatMap((p) =>
    Object.entries<Json>(p.cells ?? {}).flatMap(([cell, c]) => fig({
      scenario: 'browser', runtime: 'chromium', backend: p.backend, case: cell.replace('×', ' ×'),
      metric: 'rows/s in the page', unit: 'rows/s', value: c.rowsPerSec, baseline: 'Node, onnxruntime-node CPU', baselineValue: node?.cells?.[cell]?.rowsPerSec,
      p50Ms: c.p50, p99Ms: c.p99,
    })));
}

/** Reads one scenario's results file into figures. */
export const EXTRACT: Readonly<Record<string, (j: Json) => Figure[]>> = { core, realtime, async, batch, stream, browser };

function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0]!, median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! };
}

/** Groups figures of repeated runs and folds each group into min / median / max. */
export function fold(figures: readonly Figure[]): FoldedFigure[] {
  const groups = new Map<string, Figure[]>();
  for (const f of figures) {
    const k = [f.scenario, f.runtime, f.backend, f.case, f.metric].join('\u0000');
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  return [...groups.values()].map((fs) => {
    const f = fs[0]!;
    const ratio = spread(fs.map((x) => x.ratio));
    const flagged = fs.flatMap((x) => (x.flagged ? [x.flagged] : []));
    const lat = (k: 'p50Ms' | 'p99Ms') => {
      const xs = fs.map((x) => x[k]).filter(num);
      return xs.length ? { [k]: spread(xs) } : {};
    };
    return {
      scenario: f.scenario, runtime: f.runtime, backend: f.backend, case: f.case, metric: f.metric, unit: f.unit, baseline: f.baseline,
      runs: fs.length, value: spread(fs.map((x) => x.value)), baselineValue: spread(fs.map((x) => x.baselineValue)), ratio,
      ...lat('p50Ms'), ...lat('p99Ms'), flagged,
      ...(f.goalRatio !== undefined ? { goalRatio: f.goalRatio, goalMet: flagged.length === 0 && ratio.median >= f.goalRatio } : {}),
    };
  });
}

/**
 * The figures of the headline chart: every one the issues set a goal on, and one
 * representative case of the others: bench/core and bench/browser at batch 64, async whole.
 */
export function headline(figures: readonly FoldedFigure[]): FoldedFigure[] {
  return figures.filter((f) => f.goalRatio !== undefined
    || (f.scenario === 'core' && f.case === 'digits ×64')
    || f.scenario === 'async' || (f.scenario === 'browser' && f.case.endsWith('×64')));
}
