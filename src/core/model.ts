/**
 * A loaded model version: one inference session plus the plans that turn records into
 * tensors and outputs into results. Async setup, so the constructor is private and
 * `Model.create()` does the work.
 * @module
 */
import { Errors, isOmniserveError } from '../errors.ts';
import type { Backend, InferenceHandle, SessionOptions } from '../backends/types.ts';
import { fillInput, packRows, planInputs, type FeatureRow, type InputPlan } from './features.ts';
import { parseModelConfig, type ModelConfig } from './model-config.ts';
import { planOutputs, toResults, type OutputPlan, type PredictionResult } from './postprocess.ts';
import { exposeZipMapInputs, findZipMaps, type ZipMapInfo } from './onnx-zipmap.ts';
import { ModelSession, type NextBackend } from './model-session.ts';
import { allocate, firstNonFinite, firstNonFiniteHalf, fromHalf, isStaticDim, sizeOf, type TensorData, type TensorSpec } from './tensor.ts';

/** What describes a model version to clients (OIP metadata, `/v1/models`). */
export interface ModelMetadata {
  readonly name: string;
  readonly version: string;
  readonly backend: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly features: Readonly<Record<string, readonly string[]>>;
  readonly sizeBytes: number;
  readonly loadedAt: string;
  /** What the load-time warm-up did (config `warmup`). */
  readonly warmup?: WarmupReport;
  /** Backends tried first that could not run the model's operators, and why (auto and aliases fall through to the next). */
  readonly skippedBackends?: readonly { readonly backend: string; readonly reason: string }[];
  /** Graph outputs that are not tensors (ZipMap), so not fetched or answered. */
  readonly skippedOutputs?: readonly { readonly name: string; readonly reason: string }[];
  /** Where this version's runs go when not to its own session: a worker pool ({@link Model.runElsewhere}). */
  readonly runsIn?: string;
}

/**
 * The model config with `probabilities` post-processing (and the ZipMap's class labels) for
 * each exposed ZipMap input the config does not mention. Anything but a plain object is
 * passed on as it is, for parseModelConfig to refuse.
 */
function withZipMapDefaults(raw: unknown, zipmaps: readonly ZipMapInfo[]): unknown {
  if (zipmaps.length === 0 || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  const outputs = (typeof r['outputs'] === 'object' && r['outputs'] !== null ? r['outputs'] : {}) as Record<string, unknown>;
  const added: Record<string, unknown> = {};
  for (const z of zipmaps) {
    if (z.tensor in outputs) continue;
    added[z.tensor] = { postprocess: 'probabilities', ...(z.labels.length ? { labels: z.labels.map(String) } : {}) };
  }
  return Object.keys(added).length ? { ...r, outputs: { ...added, ...outputs } } : raw;
}

/** Options of {@link Model.infer}. */
export interface InferOptions {
  /** The caller has already checked that every float value is finite (batch scoring checks while it fills the tensor). */
  readonly finiteChecked?: boolean;
}

/**
 * The load-time warm-up: runs done and the first and last run's milliseconds, or why there
 * was none. A failed warm-up does not fail the load (a model may refuse zeros and still
 * score real inputs); it is reported, and the first request pays the one-time costs. The
 * exception is GPU work the device refused (web-webgpu): that is no property of the inputs,
 * so the load fails with INVALID_MODEL (`details.deviceRefused`), which `auto` falls back from.
 */
export type WarmupReport =
  | { readonly runs: number; readonly firstMs: number; readonly lastMs: number }
  | { readonly skipped: string }
  | { readonly failed: string };

/** One model version, ready to predict. */
export class Model {
  /** The session runs go to, moved or split when its device refuses a run. */
  readonly #session: ModelSession;
  #metadata: ModelMetadata;
  readonly #inputs: InputPlan[];
  readonly #outputs: OutputPlan;
  readonly #batchCap: number;
  /** The batch dimension when the model fixes it (it then takes exactly that many rows per run: we pad). */
  readonly #fixedBatch: number | undefined;
  #released = false;
  /** Why this version's session was freed while it stays loaded ({@link Model.runElsewhere}). */
  #elsewhere: string | undefined;
  #retiring = false;
  /** Runs in progress; release() waits for them so a reload never cuts one off. */
  #inflight = 0;
  /** Callers of {@link Model.#whenIdle} waiting for the runs in progress to end. */
  #idle: (() => void)[] = [];

  private constructor(
    readonly name: string,
    readonly version: string,
    readonly config: ModelConfig,
    backend: Backend,
    handle: InferenceHandle,
    metadata: ModelMetadata,
  ) {
    this.#metadata = metadata;
    const batchDim = handle.inputs[0]?.shape[0];
    this.#fixedBatch = isStaticDim(batchDim) && batchDim > 0 ? batchDim : undefined;
    this.#batchCap = this.#fixedBatch ?? config.maxBatchSize;
    // A move (see ModelSession) shows in the metadata: the backend now, and why the old one was left.
    this.#session = new ModelSession(handle, backend, this.#fixedBatch !== undefined, (from, to, reason) => {
      this.#metadata = {
        ...this.#metadata,
        backend: to.id,
        skippedBackends: [...(this.#metadata.skippedBackends ?? []), { backend: from, reason: `the device refused a run after the load: ${reason}` }],
      };
    });
    this.#inputs = planInputs(handle.inputs, config);
    this.#outputs = planOutputs(handle.outputs, config);
  }

  /** Loads model bytes on a backend. Config errors surface here, not at first request. */
  static async create(opts: {
    name: string;
    version: string;
    bytes: Uint8Array;
    backend: Backend;
    config?: unknown;
    session?: SessionOptions;
    skippedBackends?: readonly { readonly backend: string; readonly reason: string }[];
    /**
     * The request's next backend (not given when the request pinned one). On web-webgpu a
     * run the device refuses after the load (the warm-up passed, or there was none) moves
     * the model there: a session is made from the same bytes, the run is retried on it, and
     * every later run goes there (metadata's `backend` and `skippedBackends` say so).
     */
    next?: NextBackend;
  }): Promise<Model> {
    // A ZipMap's probabilities (a sequence of maps no binding returns) are served from the
    // tensor going into it, post-processed as probabilities unless the config says otherwise.
    const zipmaps = findZipMaps(opts.bytes);
    const config = parseModelConfig(withZipMapDefaults(opts.config ?? {}, zipmaps), `model ${opts.name}`);
    if (opts.bytes.byteLength === 0) throw Errors.INVALID_MODEL(`model ${opts.name}: the model file is empty`);
    const exposed = exposeZipMapInputs(opts.bytes, zipmaps.map((z) => z.tensor));
    const handle = await opts.backend.createSession(exposed, opts.session);
    const skippedOutputs = handle.skippedOutputs?.map((o) => {
      const z = zipmaps.find((x) => x.output === o.name);
      return z ? { name: o.name, reason: `a ZipMap sequence of maps, which onnxruntime's JavaScript bindings cannot return; its probabilities are the tensor output "${z.tensor}"` } : o;
    });
    try {
      const features: Record<string, readonly string[]> = {};
      for (const [k, c] of Object.entries(config.inputs)) if (c.features) features[k] = c.features;
      const meta: { -readonly [K in keyof ModelMetadata]: ModelMetadata[K] } = {
        name: opts.name,
        version: opts.version,
        backend: opts.backend.id,
        inputs: handle.inputs,
        outputs: handle.outputs,
        features,
        sizeBytes: opts.bytes.byteLength,
        loadedAt: new Date().toISOString(),
        ...(opts.skippedBackends?.length ? { skippedBackends: [...opts.skippedBackends] } : {}),
        ...(skippedOutputs?.length ? { skippedOutputs } : {}),
      };
      const model = new Model(opts.name, opts.version, config, opts.backend, handle, meta);
      meta.warmup = await model.#warmup(config.warmup);
      // From here on, a refused run moves the model (a refused warm-up failed the load above,
      // and the registry loaded it on the next backend). Only web-webgpu runs are ever refused
      // by their device (the error scopes of onnxruntime.ts).
      if (opts.next && opts.backend.id === 'web-webgpu') model.#session.allowMoves({ bytes: exposed, session: opts.session, next: opts.next });
      return model;
    } catch (e) {
      await handle.release();
      throw e;
    }
  }

  /** The backend the model runs on: the one it loaded on, or the one a refused run moved it to. */
  get backend(): Backend {
    return this.#session.backend;
  }

  /** What describes this version; `backend` and `skippedBackends` change if a refused run moves it. */
  get metadata(): ModelMetadata {
    return this.#metadata;
  }

  /** Ordered feature names per input (features mode only). */
  get features(): Readonly<Record<string, readonly string[]>> {
    return this.metadata.features;
  }

  /**
   * Replaces, in place, the JSON arrays that `records` give this model's float inputs by
   * checked typed rows (see {@link packRows}): for rows parsed for one request, before they
   * wait in a batcher. Throws the named error of the first bad row (numbered within `records`).
   */
  packRows(records: readonly FeatureRow[]): void {
    packRows(this.#inputs, records);
  }

  /**
   * Scores records: one result per record, in order. Large inputs run in batches. A row's
   * value for an array input may be a JSON array or a typed array.
   */
  async predict(records: readonly FeatureRow[]): Promise<PredictionResult[]> {
    if (!Array.isArray(records)) throw Errors.INVALID_REQUEST('records must be an array of objects');
    if (records.length === 0) throw Errors.EMPTY_BATCH('no records to score: the batch is empty');
    this.#assertLive();
    const results: PredictionResult[] = [];
    for (let start = 0; start < records.length; start += this.#batchCap) {
      const end = Math.min(records.length, start + this.#batchCap);
      const batch = this.#fixedBatch ?? end - start;
      const feeds: Record<string, TensorData> = {};
      for (const plan of this.#inputs) feeds[plan.name] = fillInput(plan, records, start, end, batch);
      const out = await this.#run(feeds);
      for (const r of toResults(this.#outputs, out, end - start)) results.push(r);
    }
    return results;
  }

  /**
   * Runs raw tensors (the OIP path), after checking names, dtypes, shapes and (unless the
   * input's config allows them, or `opts.finiteChecked` says the caller already did) that
   * float values are finite.
   */
  async infer(feeds: Readonly<Record<string, TensorData>>, opts: InferOptions = {}): Promise<Record<string, TensorData>> {
    this.#assertLive();
    const specs = this.#session.handle.inputs;
    for (const name of Object.keys(feeds)) {
      if (!specs.some((s) => s.name === name)) {
        throw Errors.UNKNOWN_INPUT(`model ${this.name} has no input "${name}"; its inputs: ${specs.map((s) => s.name).join(', ')}`,
          { input: name, inputs: specs.map((s) => s.name) });
      }
    }
    for (const spec of specs) {
      const t = feeds[spec.name];
      if (!t) throw Errors.MISSING_INPUT(`input "${spec.name}" is missing`, { input: spec.name });
      checkTensor(spec, t, opts.finiteChecked === true || (this.config.inputs[spec.name]?.allowNonFinite ?? false));
    }
    return this.#run(feeds);
  }

  /** Converts raw outputs into per-row results with post-processing. */
  results(out: Readonly<Record<string, TensorData>>, rows: number): PredictionResult[] {
    return toResults(this.#outputs, out, rows);
  }

  /** True once this version was replaced or unloaded: new work should go to the registry's current one. */
  get retiring(): boolean {
    return this.#retiring;
  }

  /** Marks this version as on its way out (the registry does this before draining it). */
  beginRetire(): void {
    this.#retiring = true;
  }

  /** Frees the session. Further calls fail with MODEL_NOT_FOUND. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#retiring = true;
    this.#session.stopMoves();
    await this.#whenIdle();
    if (this.#elsewhere === undefined) await this.#session.release();
  }

  /**
   * Frees this version's session but keeps it loaded: its metadata, config and input plans
   * still answer, and its runs go elsewhere (a worker pool holds the model; a heavy model
   * would otherwise sit in memory twice). A run here afterwards fails with INTERNAL naming
   * `where`.
   */
  async runElsewhere(where: string): Promise<void> {
    if (this.#released || this.#elsewhere !== undefined) return;
    this.#elsewhere = where;
    this.#metadata = { ...this.#metadata, runsIn: where };
    this.#session.stopMoves();
    await this.#whenIdle();
    await this.#session.release();
  }

  /** Where this version's runs go instead of its own session ({@link Model.runElsewhere}), if anywhere. */
  get elsewhere(): string | undefined {
    return this.#elsewhere;
  }

  /**
   * Milliseconds a run of `rows` rows of zeros takes here (the model's fixed batch when it has
   * one, at most its maxBatchSize), the faster of two; undefined when inputs cannot be made up
   * (dynamic inner dimensions) or the run fails. How long one batch holds the thread.
   */
  async timeRun(rows: number): Promise<number | undefined> {
    const feeds = this.#zeros(this.#fixedBatch ?? Math.max(1, Math.min(rows, this.#batchCap)));
    if (!feeds) return undefined;
    let best = Infinity;
    try {
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        await this.#run(feeds);
        best = Math.min(best, performance.now() - t0);
      }
    } catch {
      return undefined;
    }
    return best;
  }

  /** Zeros for every input, `batch` rows; undefined when an input has dynamic inner dimensions. */
  #zeros(batch: number): Record<string, TensorData> | undefined {
    if (this.#inputs.some((p) => p.dynamic)) return undefined;
    const feeds: Record<string, TensorData> = {};
    for (const p of this.#inputs) feeds[p.name] = { dtype: p.dtype, data: allocate(p.dtype, batch * p.rowSize), dims: [batch, ...p.rowShape] };
    return feeds;
  }

  async #warmup(runs: number): Promise<WarmupReport> {
    if (runs === 0) return { skipped: 'warmup is 0' };
    const dynamic = this.#inputs.find((p) => p.dynamic);
    if (dynamic) return { skipped: `input "${dynamic.name}" has dynamic inner dimensions` };
    const feeds = this.#zeros(this.#fixedBatch ?? 1)!;
    let firstMs = 0;
    let lastMs = 0;
    try {
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await this.#run(feeds);
        lastMs = performance.now() - t0;
        if (i === 0) firstMs = lastMs;
      }
    } catch (e) {
      // The device refused the GPU work itself (not these zeros): the model cannot run here,
      // and under `auto` the registry loads it on the next backend.
      if (isOmniserveError(e, 'INFERENCE_FAILED') && e.details?.['deviceRefused'] === true) {
        throw Errors.INVALID_MODEL(`model ${this.name} cannot run on ${this.backend.id}: ${e.message}`, { backend: this.backend.id, deviceRefused: true }, e);
      }
      return { failed: e instanceof Error ? e.message : String(e) };
    }
    const round = (ms: number) => Math.round(ms * 1000) / 1000;
    return { runs, firstMs: round(firstMs), lastMs: round(lastMs) };
  }

  async #run(feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>> {
    if (this.#elsewhere !== undefined) {
      throw Errors.INTERNAL(`model ${this.name} version ${this.version} runs in ${this.#elsewhere}, not in this thread`, { model: this.name, version: this.version });
    }
    this.#inflight++;
    try {
      return await this.#session.run(feeds);
    } finally {
      if (--this.#inflight === 0) {
        this.#session.freeLeft();
        if (this.#idle.length > 0) for (const done of this.#idle.splice(0)) done();
      }
    }
  }

  /** Resolves once no run is in progress (at once when none is); any number may wait. */
  #whenIdle(): Promise<void> {
    return this.#inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #assertLive(): void {
    if (this.#released) throw Errors.MODEL_NOT_FOUND(`model ${this.name} version ${this.version} was unloaded`);
  }
}

function checkTensor(spec: TensorSpec, t: TensorData, allowNonFinite: boolean): void {
  if (t.dtype !== spec.dtype) {
    throw Errors.DTYPE_MISMATCH(`input "${spec.name}" is ${spec.dtype}; got ${t.dtype}`,
      { input: spec.name, expected: spec.dtype, got: t.dtype });
  }
  const fits = t.dims.length === spec.shape.length && spec.shape.every((d, i) => !isStaticDim(d) || d === t.dims[i]);
  if (!fits || t.dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw Errors.SHAPE_MISMATCH(`input "${spec.name}" has shape [${spec.shape.join(',')}]; got [${t.dims.join(',')}]`,
      { input: spec.name, expected: spec.shape, got: t.dims });
  }
  if (sizeOf(t.dims) !== t.data.length) {
    throw Errors.SHAPE_MISMATCH(`input "${spec.name}": ${t.data.length} values do not fill shape [${t.dims.join(',')}]`,
      { input: spec.name, got: t.data.length, expected: sizeOf(t.dims) });
  }
  if (t.dims[0] === 0) throw Errors.EMPTY_BATCH(`input "${spec.name}" has an empty batch`);
  if (t.dtype === 'string') {
    if (!Array.isArray(t.data)) {
      throw Errors.DTYPE_MISMATCH(`input "${spec.name}" is string: its data must be an array of strings`, { input: spec.name, expected: 'string[]' });
    }
    const i = t.data.findIndex((x) => typeof x !== 'string');
    if (i >= 0) throw Errors.INVALID_FEATURE_TYPE(`input "${spec.name}"[${i}] is ${typeof t.data[i]}; a string tensor needs strings`, { input: spec.name, index: i });
    return;
  }
  if (Array.isArray(t.data)) {
    throw Errors.DTYPE_MISMATCH(`input "${spec.name}" is ${t.dtype}: its data must be a typed array, not an array`, { input: spec.name });
  }
  if (t.dtype === 'float16' && !(t.data instanceof Uint16Array)) {
    // A Float16Array (Bun, Deno, browsers) holds values, not the bit patterns checked below.
    throw Errors.DTYPE_MISMATCH(`input "${spec.name}" is float16: its data must be a Uint16Array of IEEE 754 half-precision bits (toHalf)`,
      { input: spec.name, expected: 'Uint16Array' });
  }
  if (allowNonFinite) return;
  if (t.data instanceof Float32Array || t.data instanceof Float64Array) {
    const i = firstNonFinite(t.data);
    if (i >= 0) throw Errors.INVALID_FEATURE_VALUE(`input "${spec.name}"[${i}] is ${t.data[i]}; values must be finite`, { input: spec.name, index: i });
  } else if (t.dtype === 'float16') {
    const i = firstNonFiniteHalf(t.data as Uint16Array);
    if (i >= 0) throw Errors.INVALID_FEATURE_VALUE(`input "${spec.name}"[${i}] is ${fromHalf(t.data[i] as number)}; values must be finite`, { input: spec.name, index: i });
  }
}
