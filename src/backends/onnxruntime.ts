/**
 * One adapter for both onnxruntime packages. onnxruntime-node and onnxruntime-web share the
 * `onnxruntime-common` API, so a backend is just: which module to load (injected by the
 * host, since only `runtimes/` may import onnxruntime-node), which execution provider, and
 * an optional host-specific check before the probe.
 * @module
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { Errors, messageOf } from '../errors.ts';
import { usesFloat16 } from '../core/onnx-float16.ts';
import { isDType, type DType, type TensorData, type TensorSpec } from '../core/tensor.ts';
import type { Backend, BackendId, BackendProbeInfo, InferenceHandle, SessionOptions } from './types.ts';

/** The part of an onnxruntime module omniserve uses. */
export interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  readonly Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  readonly env: { versions?: Record<string, string | undefined>; logLevel?: string; wasm?: Record<string, unknown>; webgpu?: { readonly device?: unknown } };
}

/** How to build one onnxruntime backend. */
export interface OrtBackendOptions {
  readonly id: BackendId;
  readonly package: Backend['package'];
  readonly provider: Backend['provider'];
  readonly device: Backend['device'];
  /** Loads the onnxruntime module (a dynamic import, supplied by the host). */
  readonly load: () => Promise<OrtModule>;
  /** Host check before loading, e.g. "navigator.gpu gives an adapter"; throws the reason. */
  readonly precheck?: () => Promise<BackendProbeInfo | void>;
  /** Extra execution-provider options, e.g. `{ deviceId: 0 }` for CUDA. */
  readonly providerOptions?: Record<string, unknown>;
  /**
   * onnxruntime-web's WebGPU build: inputs are written to GPU buffers with
   * `queue.writeBuffer` and fed as GPU tensors, and runs on all sessions of the module
   * take turns (see `gpuFeeder` and `turns`).
   */
  readonly webgpu?: boolean;
}

// A 134-byte MatMul model ([1,4] x [4,2], weights 1..8): the probe runs it on the
// provider, so "available" means "ran a graph", not just "the package imported".
const PROBE_MODEL = 'CAgSCW9tbmlzZXJ2ZTpxChEKAXgKAXcSAXkiBk1hdE11bBIFcHJvYmUqKwgECAIQASIgAACAPwAAAEAAAEBAAACAQAAAoEAAAMBAAADgQAAAAEFCAXdaEwoBeBIOCgwIARIICgIIAQoCCARiEwoBeRIOCgwIARIICgIIAQoCCAJCBAoAEA0=';

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Creates a Backend over an onnxruntime module. */
export function createOrtBackend(opts: OrtBackendOptions): Backend {
  let ort: OrtModule | undefined;
  const take = opts.webgpu ? turns() : undefined;
  const ep = opts.providerOptions ? { name: opts.provider, ...opts.providerOptions } : opts.provider;

  const sessionOptions = (o: SessionOptions = {}): InferenceSession.SessionOptions => ({
    executionProviders: [ep as InferenceSession.ExecutionProviderConfig],
    graphOptimizationLevel: o.graphOptimization ?? 'all',
    ...(o.threads !== undefined && opts.package === 'onnxruntime-node' ? { intraOpNumThreads: o.threads } : {}),
    logSeverityLevel: 3,
    ...(o.spinning === false && opts.package === 'onnxruntime-node' ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  });

  return {
    id: opts.id,
    package: opts.package,
    provider: opts.provider,
    device: opts.device,

    async probe() {
      const pre = (await opts.precheck?.()) ?? {};
      const mod = await opts.load();
      const session = await mod.InferenceSession.create(decodeBase64(PROBE_MODEL), sessionOptions());
      try {
        const x = new mod.Tensor('float32', new Float32Array([1, 1, 1, 1]), [1, 4]);
        const y = (await session.run({ x }))['y'];
        const got = Array.from(y?.data as Float32Array ?? []);
        if (got[0] !== 16 || got[1] !== 20) throw new Error(`probe model gave [${got.join(',')}], expected [16,20]`);
      } finally {
        await session.release();
      }
      ort = mod;
      const versions = mod.env.versions ?? {};
      return { ...pre, version: versions['node'] ?? versions['web'] ?? versions['common'] };
    },

    async createSession(model, options) {
      if (!ort) throw Errors.BACKEND_UNAVAILABLE(`backend ${opts.id} was not probed successfully`);
      let session: InferenceSession;
      try {
        const mod = ort;
        const create = () => mod.InferenceSession.create(model, sessionOptions(options));
        session = await (take ? take(create) : create());
      } catch (e) {
        throw Errors.INVALID_MODEL(`could not load the model on ${opts.id}: ${messageOf(e)}`, { backend: opts.id }, e);
      }
      if (take) await refuseHalfWithoutF16(ort, session, model, opts.id, take);
      return wrapSession(ort, session, opts.id, opts.package === 'onnxruntime-node', take);
    },
  };
}

const NOT_A_TENSOR = 'not a tensor (e.g. a ZipMap sequence of maps); onnxruntime\'s JavaScript bindings cannot return it, so it is not fetched';

/**
 * Tensor specs of the inputs or outputs. A non-tensor input is UNSUPPORTED_DTYPE; a
 * non-tensor output is left out and named in `skipped` (a scikit-learn classifier exported
 * with ZipMap still serves its label), unless no tensor output is left.
 */
function specsOf(session: InferenceSession, which: 'input' | 'output', skipped?: { name: string; reason: string }[]): TensorSpec[] {
  const all = (which === 'input' ? session.inputMetadata : session.outputMetadata) as readonly InferenceSession.ValueMetadata[];
  let meta = all;
  if (skipped) {
    meta = all.filter((m) => m.isTensor);
    for (const m of all) if (!m.isTensor) skipped.push({ name: m.name, reason: NOT_A_TENSOR });
  }
  if (skipped && meta.length === 0 && all.length > 0) {
    throw Errors.UNSUPPORTED_DTYPE(`no output of the model is a tensor (${all.map((m) => `"${m.name}"`).join(', ')}); omniserve serves tensor outputs`, { outputs: all.map((m) => m.name) });
  }
  return meta.map((m) => {
    if (!m.isTensor) throw Errors.UNSUPPORTED_DTYPE(`${which} "${m.name}" is not a tensor`, { [which]: m.name });
    const dtype = m.type as string;
    if (!isDType(dtype)) {
      throw Errors.UNSUPPORTED_DTYPE(`${which} "${m.name}" has dtype ${dtype}, which omniserve does not handle yet`,
        { [which]: m.name, dtype });
    }
    // An unnamed dynamic dimension is -1, or -1 read as unsigned (4294967295) from onnxruntime-web.
    return { name: m.name, dtype, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 && d < 0xffffffff ? d : typeof d === 'string' && d !== '' ? d : null)) };
  });
}

/**
 * A float16 feed for onnxruntime-node. Where the host has Float16Array (Bun, Deno) the Tensor
 * constructor turns the Uint16Array into one, which the addon's N-API cannot size (it reads
 * 0 bytes: "not enough space"). The bits go in as uint16 and the tensor is relabelled
 * float16, which is what the addon reads to build the input.
 */
function nativeHalf(ort: OrtModule, t: TensorData): OrtTensor {
  const tensor = new ort.Tensor('uint16', t.data as Uint16Array, t.dims);
  Object.defineProperty(tensor, 'type', { value: 'float16' });
  return tensor;
}

/**
 * One call at a time across every session of a module. onnxruntime-web's WebGPU build is
 * compiled with asyncify: a second `run` entering the WASM while another waits for the GPU
 * breaks the first ("Failed to download data from buffer"), and a second session created
 * while one is being created fails ("another WebGPU EP inference session is being
 * created"), so two models on WebGPU, or two batches of one, take turns: session creation,
 * runs and release. A failed call does not block the next.
 */
function turns(): <T>(fn: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const next = last.then(fn, fn);
    last = next.catch(() => undefined);
    return next;
  };
}

/**
 * onnxruntime-web's WebGPU kernels for float16 need the device feature `shader-f16`. On a
 * device without it (Chromium's SwiftShader adapter, many mobile GPUs) their pipelines are
 * invalid: the run does not fail, it answers zeros or garbage, and only the console says why.
 * So a model with float16 anywhere (inputs, outputs, or inside: float16 weights, a Cast to
 * float16; core/onnx-float16.ts reads the graph) is refused there, with a reason naming the
 * feature (`details.missingFeature`): pinned to WebGPU the load fails; asked for by `auto`
 * the registry hands it to the next backend (WASM), as for a missing operator.
 */
async function refuseHalfWithoutF16(ort: OrtModule, session: InferenceSession, model: Uint8Array, id: BackendId, take: ReturnType<typeof turns>): Promise<void> {
  const device = await webgpuDevice(ort);
  if (typeof device?.features?.has !== 'function' || device.features.has('shader-f16')) return;
  const io = [...session.inputMetadata, ...session.outputMetadata] as readonly InferenceSession.ValueMetadata[];
  const half = io.filter((m) => m.isTensor && m.type === 'float16').map((m) => `"${m.name}"`);
  if (half.length === 0 && !usesFloat16(model)) return;
  await take(() => session.release()).catch(() => {});
  const what = half.length ? `its float16 tensors (${half.join(', ')})` : 'its float16 computations (weights or casts inside the graph)';
  throw Errors.INVALID_MODEL(`could not load the model on ${id}: ${what} need the WebGPU feature "shader-f16", which this device lacks`,
    { backend: id, missingFeature: 'shader-f16' });
}

/**
 * The GPUDevice onnxruntime-web's WebGPU build runs on, as far as omniserve uses it (typed
 * loosely: src/ has no WebGPU types, and every member is checked before use).
 */
interface WebGpuDevice {
  readonly features?: { has(feature: string): boolean };
  createBuffer?(d: { size: number; usage: number }): GpuBufferLike;
  readonly queue?: { writeBuffer(buffer: GpuBufferLike, offset: number, data: ArrayBufferLike, dataOffset: number, size: number): void };
  pushErrorScope?(filter: 'validation' | 'out-of-memory'): void;
  popErrorScope?(): Promise<{ readonly message: string } | null>;
}
interface GpuBufferLike { readonly size: number; destroy(): void }

/** The module's device (set once its first WebGPU session exists), or undefined. */
async function webgpuDevice(ort: OrtModule): Promise<WebGpuDevice | undefined> {
  return (await ort.env.webgpu?.device) as WebGpuDevice | undefined;
}

/** The device's error scopes, when it has them. */
type GpuErrorScopes = Required<Pick<WebGpuDevice, 'pushErrorScope' | 'popErrorScope'>>;
const hasErrorScopes = (d: WebGpuDevice | undefined): d is WebGpuDevice & GpuErrorScopes =>
  typeof d?.pushErrorScope === 'function' && typeof d.popErrorScope === 'function';

/**
 * Pops the two scopes a WebGPU run was made in and throws when the device refused any of its
 * work. onnxruntime-web does not: a pipeline the device rejects (a feature or a limit it
 * lacks) or a buffer it cannot allocate leaves the run to answer zeros or stale memory, with
 * only a console message; here it is an INFERENCE_FAILED naming the device's reason.
 */
async function refusedGpuWork(device: GpuErrorScopes): Promise<void> {
  const oom = await device.popErrorScope().catch(() => null);
  const invalid = await device.popErrorScope().catch(() => null);
  const e = oom ?? invalid;
  if (e) throw new GpuRefusal(`the WebGPU device refused the run's GPU work (${oom ? 'out of memory' : 'validation'}): ${e.message}`, oom !== null);
}

/**
 * What {@link refusedGpuWork} throws; the run's INFERENCE_FAILED then has `details.deviceRefused`,
 * and `details.outOfMemory` when the device could not allocate (a smaller batch may fit).
 */
class GpuRefusal extends Error {
  constructor(message: string, readonly outOfMemory: boolean) {
    super(message);
  }
}

type FromGpuBuffer = (buffer: GpuBufferLike, o: { dataType: string; dims: readonly number[] }) => OrtTensor;

// GPUBufferUsage.STORAGE | COPY_SRC | COPY_DST (numeric: src/ has no WebGPU globals).
const STORAGE_COPY = 0x80 | 0x04 | 0x08;
// int64 stays out: the WebGPU EP converts int64 feeds on upload (its kernels bind them as
// 32-bit), which a GPU tensor skips.
const GPU_FEED_DTYPES: ReadonlySet<string> = new Set(['float32', 'float16', 'int32', 'uint32']);

/**
 * Feeds inputs to onnxruntime-web's WebGPU build as GPU tensors written with
 * `queue.writeBuffer`, instead of letting it upload them. Its own upload goes through a
 * mapped-at-creation staging buffer, and hosts that hand the mapped range to JavaScript as a
 * copy of device memory (Deno 2.9's wgpu: `getMappedRange` reads host-visible, uncached GPU
 * memory) spent ~72 ms per 4 MiB input on an H200: more than the whole model. `writeBuffer`
 * copies from the JavaScript buffer into the queue's staging memory, which is only written.
 * One buffer per input name is kept while the size stays the same (runs take turns, so it is
 * free again by the next run). Types the WebGPU EP cannot take as GPU tensors, and sizes that
 * are not a multiple of 4 bytes (writeBuffer's unit), go the usual way. Tested by the
 * conformance suite on Deno × web-webgpu (every dtype, shapes down to one value).
 */
function gpuFeeder(ort: OrtModule): { feed(device: WebGpuDevice | undefined, name: string, t: TensorData): OrtTensor | undefined; release(): void } {
  const from = (ort.Tensor as unknown as { fromGpuBuffer?: FromGpuBuffer }).fromGpuBuffer;
  const held = new Map<string, GpuBufferLike>();
  return {
    feed(device, name, t) {
      if (!from || !GPU_FEED_DTYPES.has(t.dtype)) return undefined;
      const view = t.data as ArrayBufferView;
      if (view.byteLength === 0 || view.byteLength % 4 !== 0) return undefined;
      if (typeof device?.createBuffer !== 'function' || !device.queue) return undefined;
      // The EP copies and binds whole 16-byte units, so the buffer is padded to one.
      const size = Math.ceil(view.byteLength / 16) * 16;
      let buffer = held.get(name);
      if (!buffer || buffer.size !== size) {
        buffer?.destroy();
        buffer = device.createBuffer({ size, usage: STORAGE_COPY });
        held.set(name, buffer);
      }
      device.queue.writeBuffer(buffer, 0, view.buffer, view.byteOffset, view.byteLength);
      return from.call(ort.Tensor, buffer, { dataType: t.dtype, dims: t.dims });
    },
    release() {
      for (const b of held.values()) b.destroy();
      held.clear();
    },
  };
}

function wrapSession(ort: OrtModule, session: InferenceSession, id: BackendId, native: boolean, take?: ReturnType<typeof turns>): InferenceHandle {
  const inputs = specsOf(session, 'input');
  const skippedOutputs: { name: string; reason: string }[] = [];
  const outputs = specsOf(session, 'output', skippedOutputs);
  // With an output left out, name the ones to fetch (onnxruntime fails the run otherwise).
  const fetches = skippedOutputs.length ? outputs.map((o) => o.name) : undefined;
  const gpu = take ? gpuFeeder(ort) : undefined;
  let released = false;
  const cpuTensor = (t: TensorData): OrtTensor => (native && t.dtype === 'float16' ? nativeHalf(ort, t) : new ort.Tensor(t.dtype, t.data, t.dims));
  const runWith = (ortFeeds: Record<string, OrtTensor>) => (fetches ? session.run(ortFeeds, fetches) : session.run(ortFeeds));
  // Every run passes here: the CPU path builds its tensors without an await per input.
  const runOnce = (feeds: Readonly<Record<string, TensorData>>): Promise<InferenceSession.OnnxValueMapType> => {
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = cpuTensor(t);
    return runWith(ortFeeds);
  };
  // onnxruntime-web's WebGPU build: inputs the feeder takes go as GPU tensors, within the
  // module's turn, and the run's GPU work inside error scopes (see refusedGpuWork). The
  // device is looked up once, at the first run.
  let device: Promise<WebGpuDevice | undefined> | undefined;
  const runOnGpu = async (feeds: Readonly<Record<string, TensorData>>): Promise<InferenceSession.OnnxValueMapType> => {
    const d = await (device ??= webgpuDevice(ort));
    const scoped = hasErrorScopes(d) ? d : undefined;
    scoped?.pushErrorScope('validation');
    scoped?.pushErrorScope('out-of-memory');
    let result: InferenceSession.OnnxValueMapType;
    try {
      const ortFeeds: Record<string, OrtTensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = gpu!.feed(d, name, t) ?? cpuTensor(t);
      result = await runWith(ortFeeds);
    } finally {
      if (scoped) await refusedGpuWork(scoped);
    }
    return result;
  };
  return {
    inputs,
    outputs,
    ...(skippedOutputs.length ? { skippedOutputs } : {}),
    async run(feeds) {
      let result: InferenceSession.OnnxValueMapType;
      try {
        result = await (take ? take(() => runOnGpu(feeds)) : runOnce(feeds));
      } catch (e) {
        throw Errors.INFERENCE_FAILED(`inference failed on ${id}: ${messageOf(e)}`, {
          backend: id, ...(e instanceof GpuRefusal ? { deviceRefused: true, ...(e.outOfMemory ? { outOfMemory: true } : {}) } : {}),
        }, e);
      }
      const out: Record<string, TensorData> = {};
      for (const spec of outputs) {
        const t = result[spec.name] as OrtTensor | undefined;
        if (!t) continue;
        let data = t.data as TensorData['data'];
        // Where the host has Float16Array, onnxruntime hands float16 out as one: omniserve
        // holds float16 as bit patterns (Uint16Array) on every host, so view the same bytes.
        if (t.type === 'float16' && !(data instanceof Uint16Array)) {
          const view = data as ArrayBufferView;
          data = new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
        }
        out[spec.name] = { dtype: t.type as DType, data, dims: t.dims };
      }
      return out;
    },
    async release() {
      if (released) return;
      released = true;
      await (take ? take(() => session.release()) : session.release());
      gpu?.release();
    },
  };
}
