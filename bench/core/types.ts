/**
 * The JSON bench/core writes: one `PairReport` per host × backend (core.bench.ts), and the
 * collected `CoreResults` (run.ts → bench/results/core.json). Later benchmarks read these
 * as their baseline.
 * @module
 */
import type { BackendId, BackendProbeInfo } from '../../src/backends/types.ts';
import type { Kind, TimingPlan } from './measure.ts';
import type { Measurement } from './stats.ts';

/** What the `raw` column means; written into every report so the number is never misread. */
export const RAW_MEANS =
  'raw = InferenceHandle.run() of the backend (backend.createSession): onnxruntime session.run plus the thin ' +
  'TensorData↔ort.Tensor wrapping, on pre-built input tensors; no validation, no feature mapping, no post-processing. ' +
  'raw, infer and predict share that one session.';

/** One model at one batch size on one host × backend. */
export interface CaseResult extends Record<Kind, Measurement> {
  readonly model: string;
  readonly batch: number;
  /** rows/s of infer and predict divided by raw's (1 = no overhead). */
  readonly ratio: { readonly infer: number; readonly predict: number };
}

/** What one core.bench.ts process reports. */
export interface PairReport {
  readonly host: { readonly name: string; readonly version: string | undefined };
  readonly backend: BackendId;
  /** The backend's probe: onnxruntime version, WebGPU adapter. */
  readonly probe?: BackendProbeInfo;
  /** Set when the backend could not be probed: the pair was skipped, this is why. */
  readonly error?: string;
  readonly plan: TimingPlan;
  readonly rawMeans: string;
  readonly results: readonly CaseResult[];
}

/** How one pair ended in run.ts. */
export interface PairOutcome {
  /** `host:backend`, e.g. `deno:web-webgpu`. */
  readonly pair: string;
  /** How to run this pair alone (from the repository root). */
  readonly command: string;
  /** ok: measured; skipped: its backend probe failed; failed: crashed, hung or wrote no report. */
  readonly status: 'ok' | 'skipped' | 'failed';
  readonly reason?: string;
  /** Wall time of the whole child process. */
  readonly seconds: number;
  /** What core.bench.ts reported: every case when ok, the cases measured before a crash or hang when failed. */
  readonly report?: PairReport;
}

/** The machine the numbers came from. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  /** 1/5/15-minute load averages before and after the run: how shared the machine was. */
  readonly loadavg: { readonly before: readonly number[]; readonly after: readonly number[] };
  readonly runtimes: Readonly<Record<string, string>>;
  readonly onnxruntime: Readonly<Record<string, string>>;
}

/** bench/results/core.json. */
export interface CoreResults {
  readonly benchmark: 'core';
  readonly date: string;
  readonly command: string;
  /** The commit measured (see `sourceRevision`). */
  readonly revision: string;
  readonly seconds: number;
  readonly machine: Machine;
  readonly rawMeans: string;
  readonly pairs: readonly PairOutcome[];
}
