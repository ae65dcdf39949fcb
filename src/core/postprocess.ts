/**
 * Output tensors → one result per row: every output by name, plus `prediction`,
 * `probability` (and `label`, `probabilities`) from the primary post-processed output,
 * the way the seed's server answered.
 * @module
 */
import { Errors } from '../errors.ts';
import type { ModelConfig, OutputConfig } from './model-config.ts';
import { numericData, type TensorData, type TensorSpec } from './tensor.ts';

/** One output's value for one row: a number (or string) when the output has one value per row, else a flat array. */
export type OutputValue = number | number[] | string | string[];

/** One row's result. Outputs of one value per row are numbers (strings for string outputs), others flat arrays. */
export interface PredictionResult {
  prediction?: number;
  probability?: number;
  label?: string;
  probabilities?: number[];
  outputs: Record<string, OutputValue>;
}

/**
 * The client-facing part of a prediction, as the realtime answer and a finished async job
 * give it: `prediction` and `probability` (null when the model has none), `label` and
 * `probabilities` when there are any.
 */
export function predictionView(r: PredictionResult) {
  // No spreads: this runs per answered row, and object spread is slow on Node 20.
  const v: { prediction: unknown; probability: number | null; label?: unknown; probabilities?: unknown } = {
    prediction: r.prediction ?? null,
    probability: r.probability ?? null,
  };
  if (r.label !== undefined) v.label = r.label;
  if (r.probabilities) v.probabilities = r.probabilities;
  return v;
}

/** Post-processing plan, made once per model. */
export interface OutputPlan {
  readonly outputs: readonly TensorSpec[];
  readonly primary?: { readonly name: string; readonly config: OutputConfig };
}

/** Picks the primary output: the one marked `primary`, else the first with post-processing. */
export function planOutputs(specs: readonly TensorSpec[], config: ModelConfig): OutputPlan {
  const names = new Set(specs.map((s) => s.name));
  for (const key of Object.keys(config.outputs)) {
    if (!names.has(key)) {
      throw Errors.INVALID_CONFIG(`outputs.${key}: the model has no tensor output "${key}"; its outputs: ${[...names].join(', ')}`,
        { path: `outputs.${key}`, outputs: [...names] });
    }
  }
  const entries = specs.map((s) => [s.name, config.outputs[s.name]] as const);
  for (const s of specs) {
    const c = config.outputs[s.name];
    if (s.dtype === 'string' && c && c.postprocess !== 'none') {
      throw Errors.INVALID_CONFIG(`outputs.${s.name}.postprocess: "${c.postprocess}" needs numbers; "${s.name}" is a string output`,
        { path: `outputs.${s.name}.postprocess` });
    }
  }
  const primary = entries.find(([, c]) => c?.primary) ?? entries.find(([, c]) => c && c.postprocess !== 'none');
  return { outputs: specs, ...(primary ? { primary: { name: primary[0], config: primary[1]! } } : {}) };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function softmax(xs: number[]): number[] {
  let max = -Infinity;
  for (const x of xs) if (x > max) max = x;
  let sum = 0;
  const e = xs.map((x) => {
    const y = Math.exp(x - max);
    sum += y;
    return y;
  });
  return e.map((y) => y / sum);
}

function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** Splits batch outputs into `count` row results (rows past `count` are padding). */
export function toResults(plan: OutputPlan, out: Readonly<Record<string, TensorData>>, count: number): PredictionResult[] {
  const results: PredictionResult[] = Array.from({ length: count }, () => ({ outputs: {} }));
  for (const spec of plan.outputs) {
    const t = out[spec.name];
    if (!t) continue;
    const batch = t.dims[0] ?? 1;
    if (Array.isArray(t.data)) {
      // A string output (labels as text): strings per row, as they came.
      const per = batch > 0 ? t.data.length / batch : 0;
      for (let r = 0; r < count; r++) results[r]!.outputs[spec.name] = per === 1 ? t.data[r]! : t.data.slice(r * per, (r + 1) * per);
      continue;
    }
    const d = numericData(t);
    const per = batch > 0 ? d.length / batch : 0;
    for (let r = 0; r < count; r++) {
      if (per === 1) {
        results[r]!.outputs[spec.name] = Number(d[r]);
      } else {
        const row = new Array<number>(per);
        for (let j = 0; j < per; j++) row[j] = Number(d[r * per + j]);
        results[r]!.outputs[spec.name] = row;
      }
    }
  }
  if (plan.primary) {
    const { name, config } = plan.primary;
    // planOutputs refused post-processing on a string output: the primary's values are numbers.
    for (const res of results) applyPost(res, res.outputs[name] as number | number[] | undefined, config);
  }
  return results;
}

function applyPost(res: PredictionResult, raw: number | number[] | undefined, c: OutputConfig): void {
  if (raw === undefined) return;
  const xs = typeof raw === 'number' ? [raw] : raw;
  switch (c.postprocess) {
    case 'sigmoid':
      // Several values: multi-label, one probability per class.
      fromProbabilities(res, xs.map(sigmoid), c.threshold);
      break;
    case 'softmax': {
      const ps = softmax(xs);
      res.probabilities = ps;
      res.prediction = argmax(ps);
      res.probability = ps[res.prediction]!;
      break;
    }
    case 'probabilities':
      // Already probabilities (a classifier's probability output): no sigmoid, no softmax.
      fromProbabilities(res, xs.slice(), c.threshold);
      break;
    case 'argmax':
      res.prediction = argmax(xs);
      break;
    case 'none':
      break;
  }
  if (c.labels && res.prediction !== undefined) {
    const label = c.labels[res.prediction];
    if (label !== undefined) res.label = label;
  }
}

/**
 * One probability: the positive class's, against `threshold`. Several: one per class; the
 * prediction is the most likely class and the probability its own.
 */
function fromProbabilities(res: PredictionResult, ps: number[], threshold: number): void {
  if (ps.length === 1) {
    res.probability = ps[0]!;
    res.prediction = ps[0]! >= threshold ? 1 : 0;
    return;
  }
  res.probabilities = ps;
  res.prediction = argmax(ps);
  res.probability = ps[res.prediction]!;
}
