/**
 * What omniserve's own /metrics say about a measured stretch: how many model runs, how big
 * the batches the dynamic batcher formed, how long a run and a feature-store lookup took
 * on average. Scraped before and after a wrk run and subtracted, so warm-up is left out.
 * @module
 */

/** Sums and counts of the histograms that explain where a request's time goes. */
export interface MetricsSnapshot {
  readonly requests: { readonly sum: number; readonly count: number };
  readonly inference: { readonly sum: number; readonly count: number };
  readonly batchRows: { readonly sum: number; readonly count: number };
  readonly featureStore: { readonly sum: number; readonly count: number };
}

/** Per-measurement averages derived from two snapshots. */
export interface ServerStats {
  /** Model runs (batches) during the measurement. */
  readonly batches: number;
  /** Rows per model run: how well the batcher coalesced requests. */
  readonly meanBatchRows: number;
  /** Mean time of one model run, ms. */
  readonly meanInferenceMs: number;
  /** Mean feature-store lookup (one getMany), ms; NaN without a feature store. */
  readonly meanFeatureStoreMs: number;
  /** Mean request time inside the server (queueing included), ms. */
  readonly meanRequestMs: number;
}

const HISTOGRAMS = {
  requests: 'omniserve_request_duration_seconds',
  inference: 'omniserve_inference_duration_seconds',
  batchRows: 'omniserve_batch_size_rows',
  featureStore: 'omniserve_feature_store_duration_seconds',
} as const;

/** Sums `NAME_sum` and `NAME_count` over every label set of each histogram in Prometheus text. */
export function parseMetrics(text: string): MetricsSnapshot {
  const out = Object.fromEntries(Object.keys(HISTOGRAMS).map((k) => [k, { sum: 0, count: 0 }])) as Record<keyof MetricsSnapshot, { sum: number; count: number }>;
  for (const line of text.split('\n')) {
    const m = /^(\w+)_(sum|count)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    for (const [k, name] of Object.entries(HISTOGRAMS) as [keyof MetricsSnapshot, string][]) {
      if (m[1] === name) out[k][m[2] as 'sum' | 'count'] += Number(m[3]);
    }
  }
  return out;
}

/** GET /metrics of the server at `baseUrl`. */
export async function scrapeMetrics(baseUrl: string): Promise<MetricsSnapshot> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET ${baseUrl}/metrics: ${res.status}`);
  return parseMetrics(await res.text());
}

/** The averages over what happened between `a` and `b`. */
export function statsBetween(a: MetricsSnapshot, b: MetricsSnapshot): ServerStats {
  const d = (k: keyof MetricsSnapshot) => ({ sum: b[k].sum - a[k].sum, count: b[k].count - a[k].count });
  const mean = (k: keyof MetricsSnapshot, scale: number) => {
    const x = d(k);
    return x.count > 0 ? (x.sum / x.count) * scale : Number.NaN;
  };
  return {
    batches: d('inference').count,
    meanBatchRows: mean('batchRows', 1),
    meanInferenceMs: mean('inference', 1000),
    meanFeatureStoreMs: mean('featureStore', 1000),
    meanRequestMs: mean('requests', 1000),
  };
}
