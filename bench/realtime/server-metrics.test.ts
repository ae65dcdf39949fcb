// bench/realtime's reading of omniserve's /metrics: histogram sums and counts over label sets, and their difference.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetrics, statsBetween } from './server-metrics.ts';

const text = (runs: number, rows: number, runSeconds: number) => `# HELP omniserve_batch_size_rows Rows per model run after dynamic batching.
# TYPE omniserve_batch_size_rows histogram
omniserve_batch_size_rows_bucket{model="a",le="1"} 3
omniserve_batch_size_rows_sum{model="a"} ${rows}
omniserve_batch_size_rows_count{model="a"} ${runs}
omniserve_inference_duration_seconds_sum{model="a",backend="native-cpu"} ${runSeconds}
omniserve_inference_duration_seconds_count{model="a",backend="native-cpu"} ${runs}
omniserve_request_duration_seconds_sum{model="a",route="/predict"} ${rows * 0.01}
omniserve_request_duration_seconds_count{model="a",route="/predict"} ${rows}
omniserve_request_duration_seconds_sum{model="",route="unmatched"} 0
omniserve_request_duration_seconds_count{model="",route="unmatched"} 0
`;

test('sums and counts add up over label sets; buckets and comments are skipped', () => {
  const m = parseMetrics(text(10, 200, 0.05));
  assert.deepEqual(m.batchRows, { sum: 200, count: 10 });
  assert.deepEqual(m.inference, { sum: 0.05, count: 10 });
  assert.deepEqual(m.featureStore, { sum: 0, count: 0 });
});

test('stats cover only what happened between the two scrapes', () => {
  const s = statsBetween(parseMetrics(text(10, 200, 0.05)), parseMetrics(text(30, 1000, 0.25)));
  assert.equal(s.batches, 20);
  assert.equal(s.meanBatchRows, 40);
  assert.ok(Math.abs(s.meanInferenceMs - 10) < 1e-9);
  assert.ok(Math.abs(s.meanRequestMs - 10) < 1e-9);
  assert.ok(Number.isNaN(s.meanFeatureStoreMs), 'no feature store: NaN, not 0');
});
