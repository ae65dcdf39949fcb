/**
 * Output tensors → one result per row: every output by name, plus `prediction`,
 * `probability` (and `label`, `probabilities`) from the primary post-processed output,
 * the way the seed's server answered.
 * @module
 */
import type { ModelConfig, OutputConfig } from './model-config.ts';
import { numericData, type TensorData, type TensorSpec } from './tensor.ts';

/** One row's result. Outputs of one value per row are numbers, others flat arrays. */
export interface PredictionResult {
  prediction?: number;
  probability?: number;
  label?: string;
  probabilities?: number[];
  outputs: Record<string, number | number[]>;
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
  const entries = specs.map((s) => [s.name, config.outputs[s.name]] as const);
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
    for (const res of results) applyPost(res, res.outputs[name], config);
  }
  return results;
}

function applyPost(res: PredictionResult, raw: number | number[] | undefined, c: OutputConfig): void {
  if (raw === undefined) return;
  const xs = typeof raw === 'number' ? [raw] : raw;
  switch (c.postprocess) {
    case 'sigmoid': {
      if (xs.length === 1) {
        const p = sigmoid(xs[0]!);
        res.probability = p;
        res.prediction = p >= c.threshold ? 1 : 0;
      } else {
        // Multi-label: one probability per class; prediction = most likely class.
        const ps = xs.map(sigmoid);
        res.probabilities = ps;
        res.prediction = argmax(ps);
        res.probability = ps[res.prediction]!;
      }
      break;
    }
    case 'softmax': {
      const ps = softmax(xs);
      res.probabilities = ps;
      res.prediction = argmax(ps);
      res.probability = ps[res.prediction]!;
      break;
    }
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
