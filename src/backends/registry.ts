/**
 * Backend registry: backends in priority order, each probed at most once, failures
 * remembered with their reason. `resolve('auto')` takes the first that works; a pinned
 * backend that cannot load is an error naming the reason, never a silent fallback.
 * @module
 */
import { Errors, messageOf } from '../errors.ts';
import { BACKEND_IDS, type Backend, type BackendId, type BackendProbeInfo, type BackendStatus } from './types.ts';

/** What the user may ask for: `auto`, a backend id, or a device alias. */
export type BackendRequest = 'auto' | BackendId | 'cuda' | 'webgpu' | 'gpu' | 'cpu' | 'wasm';

/** Device aliases: each maps to the backends it may mean, best first. */
const ALIASES: Readonly<Record<string, readonly BackendId[]>> = Object.freeze({
  cuda: ['native-cuda'],
  webgpu: ['native-webgpu', 'web-webgpu'],
  gpu: ['native-cuda', 'native-webgpu', 'web-webgpu'],
  cpu: ['native-cpu', 'web-wasm'],
  wasm: ['web-wasm'],
});

/** Every word `--backend` accepts, for error messages and help. */
export const BACKEND_REQUESTS: readonly string[] = Object.freeze(['auto', ...BACKEND_IDS, ...Object.keys(ALIASES)]);

interface Entry {
  readonly backend: Backend;
  readonly priority: number;
  probe?: Promise<ProbeResult>;
  result?: ProbeResult;
}

type ProbeResult =
  | { ok: true; info: BackendProbeInfo; ms: number }
  | { ok: false; reason: string; ms: number };

/**
 * onnxruntime's native errors start with a source path and a C++ signature; the useful part
 * is the end ("Failed to get a WebGPU adapter: No supported adapters").
 */
export function cleanReason(message: string): string {
  return message.replace(/^\/onnxruntime_src\/\S+:\d+\s+[\s\S]*?was false\.\s*/, '').trim();
}

/** Parses a `--backend` value; unknown words throw UNKNOWN_BACKEND listing valid ones. */
export function parseBackendRequest(s: string | undefined): BackendRequest {
  if (s === undefined || s === '') return 'auto';
  if (BACKEND_REQUESTS.includes(s)) return s as BackendRequest;
  throw Errors.UNKNOWN_BACKEND(`unknown backend "${s}"; valid: ${BACKEND_REQUESTS.join(', ')}`,
    { valid: [...BACKEND_REQUESTS] });
}

/** Holds the host's backends and the outcome of probing each. */
export class BackendRegistry {
  readonly #entries: Entry[];

  /** `backends` in priority order (first = most preferred). */
  constructor(backends: readonly Backend[]) {
    this.#entries = backends.map((backend, priority) => ({ backend, priority }));
  }

  /** The backends this host offers, in priority order. */
  get ids(): BackendId[] {
    return this.#entries.map((e) => e.backend.id);
  }

  /** Probes one backend (once; later calls share the first result). */
  async probe(id: BackendId): Promise<ProbeResult> {
    const entry = this.#entry(id);
    entry.probe ??= (async () => {
      const t0 = performance.now();
      try {
        const info = await entry.backend.probe();
        entry.result = { ok: true, info, ms: performance.now() - t0 };
      } catch (e) {
        entry.result = { ok: false, reason: cleanReason(messageOf(e)), ms: performance.now() - t0 };
      }
      return entry.result;
    })();
    return entry.probe;
  }

  /**
   * Picks the backend for a request. `auto` and aliases walk their candidates in priority
   * order and take the first that probes well; an exact id must work or it is an error.
   */
  async resolve(request: BackendRequest = 'auto'): Promise<Backend> {
    const candidates = this.#candidates(request);
    const failures: string[] = [];
    for (const entry of candidates) {
      const r = await this.probe(entry.backend.id);
      if (r.ok) return entry.backend;
      failures.push(`${entry.backend.id}: ${r.reason}`);
    }
    if (candidates.length === 0) {
      throw Errors.BACKEND_UNAVAILABLE(`backend "${request}" is not offered on this host; offered: ${this.ids.join(', ')}`,
        { request, offered: this.ids });
    }
    throw Errors.BACKEND_UNAVAILABLE(`no backend for "${request}" could load: ${failures.join('; ')}`,
      { request, failures });
  }

  /**
   * The next of `request`'s candidates after `after` that probes well, or undefined: where a
   * model loads when the backend picked for it cannot run its operators. An exact id has no
   * next (a pinned backend must work or it is an error).
   */
  async next(request: BackendRequest, after: BackendId): Promise<Backend | undefined> {
    if (BACKEND_IDS.includes(request as BackendId)) return undefined;
    const candidates = this.#candidates(request);
    for (const entry of candidates.slice(candidates.findIndex((e) => e.backend.id === after) + 1)) {
      if ((await this.probe(entry.backend.id)).ok) return entry.backend;
    }
    return undefined;
  }

  /** Probes every backend (for the report) and returns the status of each. */
  async probeAll(): Promise<BackendStatus[]> {
    for (const e of this.#entries) await this.probe(e.backend.id);
    return this.status();
  }

  /** Status of every backend, as far as probed so far. */
  status(): BackendStatus[] {
    return this.#entries.map(({ backend: b, priority, result }) => ({
      id: b.id,
      package: b.package,
      provider: b.provider,
      device: b.device,
      priority,
      state: result === undefined ? 'not-probed' : result.ok ? 'available' : 'unavailable',
      ...(result && !result.ok ? { reason: result.reason } : {}),
      ...(result?.ok ? { info: result.info } : {}),
      ...(result ? { probeMs: Math.round(result.ms) } : {}),
    }));
  }

  #candidates(request: BackendRequest): Entry[] {
    if (request === 'auto') return this.#entries;
    const wanted = ALIASES[request] ?? [request];
    return this.#entries.filter((e) => wanted.includes(e.backend.id));
  }

  #entry(id: BackendId): Entry {
    const e = this.#entries.find((x) => x.backend.id === id);
    if (!e) throw Errors.BACKEND_UNAVAILABLE(`backend "${id}" is not offered on this host`, { offered: this.ids });
    return e;
  }
}
