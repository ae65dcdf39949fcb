/**
 * Host detection, once, by capability (not user agent), as one frozen table.
 *
 * This only looks at what a global object has; it never imports a host module. Runtimes
 * may add what only they can know (a CUDA device file, versions) through `extra`.
 * @module
 */

/** Which JavaScript host this is. */
export type HostName = 'node' | 'bun' | 'deno' | 'workerd' | 'browser' | 'web-worker' | 'unknown';

/** What the host offers, decided once. */
export interface HostInfo {
  readonly name: HostName;
  readonly version: string | undefined;
  readonly platform: string | undefined;
  readonly arch: string | undefined;
  /** `navigator.gpu` exists (a WebGPU adapter may still be refused). */
  readonly webgpu: boolean;
  /** SharedArrayBuffer + cross-origin isolation: WASM threads possible. */
  readonly wasmThreads: boolean;
  readonly hardwareConcurrency: number | undefined;
  /** Host-supplied facts, e.g. `{ nvidiaDevice: true }`. */
  readonly extra: Readonly<Record<string, unknown>>;
}

const get = (o: unknown, ...path: string[]): unknown => {
  let v: unknown = o;
  for (const k of path) {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return undefined;
    v = Reflect.get(v, k);
  }
  return v;
};

/** Detects the host from a global object (default `globalThis`). */
export function detectHost(g: object = globalThis, extra: Record<string, unknown> = {}): HostInfo {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  let name: HostName = 'unknown';
  let version: string | undefined;
  if (get(g, 'Deno', 'version', 'deno') !== undefined) {
    name = 'deno';
    version = str(get(g, 'Deno', 'version', 'deno'));
  } else if (get(g, 'Bun', 'version') !== undefined) {
    name = 'bun';
    version = str(get(g, 'Bun', 'version'));
  } else if (get(g, 'navigator', 'userAgent') === 'Cloudflare-Workers') {
    name = 'workerd';
  } else if (get(g, 'process', 'versions', 'node') !== undefined && get(g, 'process', 'release', 'name') === 'node') {
    name = 'node';
    version = str(get(g, 'process', 'versions', 'node'));
  } else if (get(g, 'document') !== undefined && get(g, 'window') !== undefined) {
    name = 'browser';
  } else if (typeof get(g, 'importScripts') === 'function' || get(g, 'WorkerGlobalScope') !== undefined) {
    name = 'web-worker';
  }
  const platform = str(get(g, 'process', 'platform')) ?? str(get(g, 'Deno', 'build', 'os'));
  const arch = str(get(g, 'process', 'arch')) ?? str(get(g, 'Deno', 'build', 'arch'));
  const hc = get(g, 'navigator', 'hardwareConcurrency');
  return Object.freeze({
    name,
    version,
    platform,
    arch,
    webgpu: get(g, 'navigator', 'gpu') !== undefined,
    wasmThreads: typeof get(g, 'SharedArrayBuffer') === 'function' && get(g, 'crossOriginIsolated') !== false,
    hardwareConcurrency: typeof hc === 'number' ? hc : undefined,
    extra: Object.freeze({ ...extra }),
  });
}

/**
 * A precheck for onnxruntime-web's WebGPU backend: `navigator.gpu` must give an adapter.
 * Returns the adapter's description for the report.
 */
export async function requireWebGpuAdapter(g: object = globalThis): Promise<{ adapter: string; fallbackAdapter: boolean }> {
  const gpu = get(g, 'navigator', 'gpu') as { requestAdapter?: () => Promise<unknown> } | undefined;
  if (!gpu || typeof gpu.requestAdapter !== 'function') throw new Error('navigator.gpu is not available on this host');
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const info = get(adapter, 'info');
  const desc = [get(info, 'vendor'), get(info, 'architecture'), get(info, 'description')]
    .filter((s) => typeof s === 'string' && s !== '').join(' ');
  return { adapter: desc || 'unknown adapter', fallbackAdapter: get(info, 'isFallbackAdapter') === true };
}
