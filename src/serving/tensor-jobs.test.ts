// Tensor jobs through the batcher's run: which requests merge, how outputs are sliced back,
// and when a merged run cannot be sliced. The model here is a function that records its
// calls (the behaviour of a real model is covered by the HTTP tests with the fixtures).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorData } from '../core/tensor.ts';
import { jobRecords, runTensorJobs, tensorJob } from './tensor-jobs.ts';

const f32 = (rows: number, width: number, start: number): TensorData =>
  ({ dtype: 'float32', data: Float32Array.from({ length: rows * width }, (_, i) => start + i), dims: [rows, width] });

/** y = 2x per row (same dims), and a per-row sum; records every call's rows. */
function doubler(calls: number[]) {
  return async (feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>> => {
    const x = feeds['x']!;
    calls.push(x.dims[0]!);
    const width = x.dims[1]!;
    const y = Float32Array.from(x.data as Float32Array, (v) => v * 2);
    const sum = new Float32Array(x.dims[0]!);
    for (let r = 0; r < x.dims[0]!; r++) for (let c = 0; c < width; c++) sum[r]! += (x.data as Float32Array)[r * width + c]!;
    return { y: { dtype: 'float32', data: y, dims: [...x.dims] }, sum: { dtype: 'float32', data: sum, dims: [x.dims[0]!] } };
  };
}

test('jobs with the same inputs, dtypes and inner dims run as one; each gets exactly its rows back', async () => {
  const calls: number[] = [];
  const jobs = [tensorJob({ x: f32(2, 3, 0) }), tensorJob({ x: f32(1, 3, 100) }), tensorJob({ x: f32(3, 3, 200) })];
  assert.deepEqual(jobs.map((j) => j.rows), [2, 1, 3]);
  assert.equal(new Set(jobs.map((j) => j.signature)).size, 1);
  const records = jobs.flatMap(jobRecords);
  const out = await runTensorJobs(records, doubler(calls));
  assert.deepEqual(calls, [6], 'one run of all 6 rows');
  assert.equal(out.length, 6, 'one result per row marker');
  assert.equal(out[0], out[1], 'a job\'s rows share its outputs');
  const [a, b, c] = [out[0]!, out[2]!, out[3]!];
  assert.deepEqual(a['y']!.dims, [2, 3]);
  assert.deepEqual([...a['y']!.data], [0, 2, 4, 6, 8, 10]);
  assert.deepEqual([...b['y']!.data], [200, 202, 204]);
  assert.deepEqual(b['sum']!.dims, [1]);
  assert.deepEqual([...b['sum']!.data], [303]);
  assert.deepEqual(c['y']!.dims, [3, 3]);
  assert.deepEqual([...c['sum']!.data], [603, 612, 621]);
});

test('other inner dims or dtypes run apart; scalar or disagreeing inputs run alone', async () => {
  const calls: number[] = [];
  const jobs = [tensorJob({ x: f32(2, 3, 0) }), tensorJob({ x: f32(2, 4, 0) }), tensorJob({ x: f32(1, 3, 9) })];
  assert.notEqual(jobs[0]!.signature, jobs[1]!.signature);
  const out = await runTensorJobs(jobs.flatMap(jobRecords), doubler(calls));
  assert.deepEqual(calls.sort(), [2, 3], 'the two [*,3] jobs together, the [*,4] job alone');
  assert.deepEqual(out[2]!['y']!.dims, [2, 4]);
  assert.deepEqual([...out[4]!['y']!.data], [18, 20, 22]);
  const i64: TensorData = { dtype: 'int64', data: BigInt64Array.from([1n, 2n, 3n]), dims: [1, 3] };
  assert.notEqual(tensorJob({ x: i64 }).signature, tensorJob({ x: f32(1, 3, 0) }).signature);
  const scalar = tensorJob({ x: { dtype: 'float32', data: Float32Array.of(1), dims: [] } });
  const disagree = tensorJob({ a: f32(2, 1, 0), b: f32(3, 1, 0) });
  assert.equal(scalar.rows, 1);
  assert.equal(disagree.rows, 1);
  assert.notEqual(scalar.signature, tensorJob({ x: { dtype: 'float32', data: Float32Array.of(1), dims: [] } }).signature, 'never merged');
});

test('a merged run whose outputs do not lead with the row count runs its jobs one by one', async () => {
  const calls: number[] = [];
  const pooled = async (feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>> => {
    const x = feeds['x']!;
    calls.push(x.dims[0]!);
    let s = 0;
    for (const v of x.data as Float32Array) s += v;
    return { total: { dtype: 'float32', data: Float32Array.of(s), dims: [1] } };
  };
  const out = await runTensorJobs([tensorJob({ x: f32(2, 2, 0) }), tensorJob({ x: f32(2, 2, 10) })].flatMap(jobRecords), pooled);
  assert.deepEqual(calls, [4, 2, 2]);
  assert.deepEqual([...out[0]!['total']!.data], [6]);
  assert.deepEqual([...out[2]!['total']!.data], [46]);
});
