/**
 * Tensor requests (the Open Inference Protocol's `infer`) through the same dynamic batcher
 * as records: a request of N rows enters the batcher as N row markers, so `maxBatchSize`,
 * `maxQueueRows` (OVERLOADED), deadlines and draining count rows alike on both paths, and
 * concurrent small requests whose inputs agree on dtype and inner dims run as one model run
 * (concatenated along the batch dimension, outputs sliced back), as Triton's dynamic
 * batcher does. The batcher never splits a request, so a request's markers arrive together.
 * @module
 */
import type { FeatureRecord, FeatureRow } from '../core/features.ts';
import { concatRows, type TensorData } from '../core/tensor.ts';

/** One tensor request: its feeds, its rows, and what it may be merged with. */
export interface TensorJob {
  readonly feeds: Readonly<Record<string, TensorData>>;
  /** The shared leading dimension of every input, or 1 for a request that cannot merge. */
  readonly rows: number;
  /** Requests with equal signatures merge; a unique one runs alone. */
  readonly signature: string;
}

/** What the batcher queues for one row of a job. */
interface RowMarker {
  readonly job: TensorJob;
}

let solo = 0;

/**
 * Describes `feeds` as a job. Inputs that agree on a leading (batch) dimension merge with
 * other requests of the same input names, dtypes and inner dims; anything else (a scalar
 * input, leading dims that differ, no inputs) runs alone as one row.
 */
export function tensorJob(feeds: Readonly<Record<string, TensorData>>): TensorJob {
  const names = Object.keys(feeds).sort();
  const first = names.length ? feeds[names[0]!]!.dims[0] : undefined;
  const mergeable = first !== undefined && first > 0 && names.every((n) => feeds[n]!.dims.length >= 1 && feeds[n]!.dims[0] === first);
  if (!mergeable) return { feeds, rows: 1, signature: `solo:${++solo}` };
  return { feeds, rows: first, signature: names.map((n) => `${n}:${feeds[n]!.dtype}:${feeds[n]!.dims.slice(1).join('x')}`).join('|') };
}

/** The batcher's view of a job: one marker per row (all the same object). */
export function jobRecords(job: TensorJob): FeatureRecord[] {
  const marker: RowMarker = { job };
  return new Array<FeatureRecord>(job.rows).fill(marker as unknown as FeatureRecord);
}

type Infer = (feeds: Readonly<Record<string, TensorData>>) => Promise<Record<string, TensorData>>;

/**
 * The batcher's `run` for tensor jobs: the markers of whole jobs in queue order → one result
 * per marker (each job's outputs, repeated per row). Jobs with one signature run merged; a
 * merged run whose outputs do not all lead with the merged row count cannot be sliced, so
 * its jobs run again one by one.
 */
export async function runTensorJobs(records: readonly FeatureRow[], infer: Infer): Promise<Record<string, TensorData>[]> {
  const jobs: TensorJob[] = [];
  for (let i = 0; i < records.length;) {
    const job = (records[i] as unknown as RowMarker).job;
    jobs.push(job);
    i += job.rows;
  }
  const groups = new Map<string, TensorJob[]>();
  for (const j of jobs) {
    const g = groups.get(j.signature);
    if (g) g.push(j);
    else groups.set(j.signature, [j]);
  }
  const outputs = new Map<TensorJob, Record<string, TensorData>>();
  for (const group of groups.values()) {
    if (group.length === 1) {
      outputs.set(group[0]!, await infer(group[0]!.feeds));
      continue;
    }
    const total = group.reduce((n, j) => n + j.rows, 0);
    const merged = await infer(concatJobs(group, total));
    const sliceable = Object.values(merged).every((t) => t.dims.length >= 1 && t.dims[0] === total);
    if (!sliceable) {
      for (const j of group) outputs.set(j, await infer(j.feeds));
      continue;
    }
    let at = 0;
    for (const j of group) {
      const part: Record<string, TensorData> = {};
      for (const [name, t] of Object.entries(merged)) {
        const width = t.data.length / total;
        const data = Array.isArray(t.data) ? t.data.slice(at * width, (at + j.rows) * width) : t.data.subarray(at * width, (at + j.rows) * width);
        part[name] = { dtype: t.dtype, data, dims: [j.rows, ...t.dims.slice(1)] } as TensorData;
      }
      outputs.set(j, part);
      at += j.rows;
    }
  }
  const out = new Array<Record<string, TensorData>>(records.length);
  let k = 0;
  for (const j of jobs) {
    const o = outputs.get(j)!;
    for (let r = 0; r < j.rows; r++) out[k++] = o;
  }
  return out;
}

/** The jobs' feeds concatenated along the leading dimension (same names, dtypes, inner dims). */
function concatJobs(jobs: readonly TensorJob[], total: number): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const name of Object.keys(jobs[0]!.feeds)) out[name] = concatRows(jobs.map((j) => j.feeds[name]!), total);
  return out;
}
