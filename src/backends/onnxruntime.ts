/**
 * One adapter for both onnxruntime packages. onnxruntime-node and onnxruntime-web share the
 * `onnxruntime-common` API, so a backend is just: which module to load (injected by the
 * host, since only `runtimes/` may import onnxruntime-node), which execution provider, and
 * an optional host-specific check before the probe.
 * @module
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { Errors, messageOf } from '../errors.ts';
import { isDType, type DType, type TensorData, type TensorSpec } from '../core/tensor.ts';
import type { Backend, BackendId, BackendProbeInfo, InferenceHandle, SessionOptions } from './types.ts';

/** The part of an onnxruntime module omniserve uses. */
export interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  readonly Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  readonly env: { versions?: Record<string, string | undefined>; logLevel?: string; wasm?: Record<string, unknown> };
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
        session = await ort.InferenceSession.create(model, sessionOptions(options));
      } catch (e) {
        throw Errors.INVALID_MODEL(`could not load the model on ${opts.id}: ${messageOf(e)}`, { backend: opts.id }, e);
      }
      return wrapSession(ort, session, opts.id, opts.package === 'onnxruntime-node');
    },
  };
}

function specsOf(session: InferenceSession, which: 'input' | 'output'): TensorSpec[] {
  const meta = (which === 'input' ? session.inputMetadata : session.outputMetadata) as readonly InferenceSession.ValueMetadata[];
  return meta.map((m) => {
    if (!m.isTensor) throw Errors.UNSUPPORTED_DTYPE(`${which} "${m.name}" is not a tensor`, { [which]: m.name });
    const dtype = m.type as string;
    if (!isDType(dtype)) {
      throw Errors.UNSUPPORTED_DTYPE(`${which} "${m.name}" has dtype ${dtype}, which omniserve does not handle yet`,
        { [which]: m.name, dtype });
    }
    return { name: m.name, dtype, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : null)) };
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

function wrapSession(ort: OrtModule, session: InferenceSession, id: BackendId, native: boolean): InferenceHandle {
  const inputs = specsOf(session, 'input');
  const outputs = specsOf(session, 'output');
  let released = false;
  return {
    inputs,
    outputs,
    async run(feeds) {
      const ortFeeds: Record<string, OrtTensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = native && t.dtype === 'float16' ? nativeHalf(ort, t) : new ort.Tensor(t.dtype, t.data, t.dims);
      let result: InferenceSession.OnnxValueMapType;
      try {
        result = await session.run(ortFeeds);
      } catch (e) {
        throw Errors.INFERENCE_FAILED(`inference failed on ${id}: ${messageOf(e)}`, { backend: id }, e);
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
      await session.release();
    },
  };
}
