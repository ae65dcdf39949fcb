/**
 * Model registry: several models, several versions each, one default version per model.
 * Loading a version that already exists swaps it in atomically and releases the old one
 * only after the swap, so requests never see a missing model.
 * @module
 */
import { Errors, isOmniserveError, messageOf } from '../errors.ts';
import { cleanReason, type BackendRegistry, type BackendRequest } from '../backends/registry.ts';
import type { SessionOptions } from '../backends/types.ts';
import { Model } from './model.ts';

/** Where model bytes come from: a path, a URL, or the bytes themselves. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

/** Reads a file; must throw an error with `code: 'ENOENT'` when it does not exist. */
export type ReadFile = (path: string) => Promise<Uint8Array>;

/** What `load` takes. */
export interface LoadModelOptions {
  readonly source: ModelSource;
  /** Defaults: config.name, then the file name without `.onnx`. */
  readonly name?: string;
  /** Defaults: config.version, then "1". */
  readonly version?: string;
  /** Model config object; for a path source, `<file>.config.json` beside it is read when absent. */
  readonly config?: unknown;
  readonly backend?: BackendRequest;
  readonly session?: SessionOptions;
  /** Make this the default version (the latest loaded is the default otherwise). */
  readonly default?: boolean;
}

interface Versions {
  versions: Map<string, Model>;
  pinned?: string;
  latest: string;
}

/** Holds loaded models by name and version. */
export class ModelRegistry {
  readonly #models = new Map<string, Versions>();
  readonly #backends: BackendRegistry;
  readonly #readFile: ReadFile | undefined;
  readonly #fetch: typeof fetch | undefined;
  readonly #defaultBackend: BackendRequest;
  readonly #retireHooks: ((m: Model) => Promise<void>)[] = [];
  readonly #loadHooks: ((m: Model, bytes: Uint8Array) => Promise<void>)[] = [];

  constructor(opts: { backends: BackendRegistry; readFile?: ReadFile; fetch?: typeof fetch; backend?: BackendRequest }) {
    this.#backends = opts.backends;
    this.#readFile = opts.readFile;
    this.#fetch = opts.fetch ?? (typeof fetch === 'function' ? fetch.bind(globalThis) : undefined);
    this.#defaultBackend = opts.backend ?? 'auto';
  }

  /**
   * Registers work to do before a replaced or unloaded version is released (the serving
   * layer drains that version's queue here), so a reload never fails queued requests.
   */
  onRetire(hook: (m: Model) => Promise<void>): void {
    this.#retireHooks.push(hook);
  }

  /**
   * Registers work to do with a new version's bytes before it takes traffic (a worker pool
   * loads the same model here). A hook that throws fails the load: the new version is
   * released and whatever was serving goes on serving.
   */
  onLoad(hook: (m: Model, bytes: Uint8Array) => Promise<void>): void {
    this.#loadHooks.push(hook);
  }

  async #retire(m: Model): Promise<void> {
    m.beginRetire();
    for (const hook of this.#retireHooks) await hook(m);
    await m.release();
  }

  /** Loads (or reloads) a model version and returns it. */
  async load(opts: LoadModelOptions): Promise<Model> {
    const { bytes, path, name: urlName } = await this.#readSource(opts.source);
    let config = opts.config;
    if (config === undefined && path !== undefined) config = await this.#readSidecarConfig(path);
    const cfg = (config ?? {}) as { name?: unknown; version?: unknown };
    const name = opts.name ?? (typeof cfg.name === 'string' ? cfg.name : undefined) ?? nameFromPath(path) ?? urlName ?? 'model';
    const version = opts.version ?? (typeof cfg.version === 'string' ? cfg.version : undefined) ?? '1';
    const request = opts.backend ?? this.#defaultBackend;
    let backend = await this.#backends.resolve(request);
    const skipped: { backend: string; reason: string }[] = [];
    let model: Model;
    for (;;) {
      try {
        // `next`: a run the device refuses later moves the model on too (Model.create).
        model = await Model.create({
          name, version, bytes, backend, config, session: opts.session, skippedBackends: skipped,
          next: (after) => this.#backends.next(request, after),
        });
        break;
      } catch (e) {
        // A backend built without some operators (onnxruntime-web's WebGPU build has no
        // ai.onnx.ml ops and no string Cast), or on a device without a feature the model
        // needs (WebGPU without shader-f16 for float16), hands the model to the request's
        // next backend.
        const next = backendCannotRun(e) ? await this.#backends.next(request, backend.id) : undefined;
        if (!next) throw e;
        skipped.push({ backend: backend.id, reason: cleanReason(messageOf(e)) });
        backend = next;
      }
    }
    try {
      for (const hook of this.#loadHooks) await hook(model, bytes);
    } catch (e) {
      await model.release();
      throw e;
    }
    const entry = this.#models.get(name) ?? { versions: new Map<string, Model>(), latest: version };
    const old = entry.versions.get(version);
    entry.versions.set(version, model);
    entry.latest = version;
    if (opts.default) entry.pinned = version;
    this.#models.set(name, entry);
    if (old && old !== model) await this.#retire(old);
    return model;
  }

  /** The model version asked for (default version when omitted); MODEL_NOT_FOUND otherwise. */
  get(name: string, version?: string): Model {
    const entry = this.#models.get(name);
    if (!entry) {
      throw Errors.MODEL_NOT_FOUND(`unknown model "${name}"; loaded: ${[...this.#models.keys()].join(', ') || 'none'}`,
        { model: name, models: [...this.#models.keys()] });
    }
    const v = version ?? entry.pinned ?? entry.latest;
    const m = entry.versions.get(v);
    if (!m) {
      throw Errors.MODEL_NOT_FOUND(`model "${name}" has no version "${v}"; versions: ${[...entry.versions.keys()].join(', ')}`,
        { model: name, version: v, versions: [...entry.versions.keys()] });
    }
    return m;
  }

  /** True when the model (and version) is loaded. */
  has(name: string, version?: string): boolean {
    const e = this.#models.get(name);
    return !!e && (version === undefined || e.versions.has(version));
  }

  /** The name of the model loaded first (the server's default model), without building {@link list}. */
  first(): string | undefined {
    for (const name of this.#models.keys()) return name;
    return undefined;
  }

  /** Every model with its versions and default version. */
  list(): { name: string; versions: string[]; default: string }[] {
    return [...this.#models].map(([name, e]) => ({ name, versions: [...e.versions.keys()], default: e.pinned ?? e.latest }));
  }

  /** Makes `version` the default of `name`. */
  setDefault(name: string, version: string): void {
    this.get(name, version);
    this.#models.get(name)!.pinned = version;
  }

  /** Unloads one version, or every version of a model. */
  async unload(name: string, version?: string): Promise<void> {
    const entry = this.#models.get(name);
    if (!entry) throw Errors.MODEL_NOT_FOUND(`unknown model "${name}"`, { model: name });
    const victims = version === undefined ? [...entry.versions.keys()] : [this.get(name, version).version];
    for (const v of victims) {
      const m = entry.versions.get(v)!;
      entry.versions.delete(v);
      if (entry.pinned === v) delete entry.pinned;
      await this.#retire(m);
    }
    if (entry.versions.size === 0) this.#models.delete(name);
    else if (!entry.versions.has(entry.latest)) entry.latest = [...entry.versions.keys()].at(-1)!;
  }

  /** Releases every model. */
  async close(): Promise<void> {
    for (const name of [...this.#models.keys()]) await this.unload(name);
  }

  async #readSource(src: ModelSource): Promise<{ bytes: Uint8Array; path?: string; name?: string }> {
    if (src instanceof Uint8Array) return { bytes: src };
    if (src instanceof ArrayBuffer) return { bytes: new Uint8Array(src) };
    const url = src instanceof URL ? src : /^(https?|file|data|blob):/i.test(src) ? new URL(src) : undefined;
    if (url && url.protocol !== 'file:') return { bytes: await this.#fetchBytes(url), name: nameFromPath(decodeURIComponent(url.pathname)) };
    const path = url ? decodeURIComponent(url.pathname) : (src as string);
    return { bytes: await this.#readPath(path), path };
  }

  async #readPath(path: string): Promise<Uint8Array> {
    if (!this.#readFile) throw Errors.MODEL_FILE_NOT_FOUND(`cannot read "${path}": this host has no file access`, { path });
    try {
      return await this.#readFile(path);
    } catch (e) {
      if (isOmniserveError(e)) throw e;
      const code = (e as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
        throw Errors.MODEL_FILE_NOT_FOUND(`model file not found: ${path}`, { path });
      }
      throw Errors.INVALID_MODEL(`cannot read model file ${path}: ${messageOf(e)}`, { path }, e);
    }
  }

  async #fetchBytes(url: URL): Promise<Uint8Array> {
    if (!this.#fetch) throw Errors.MODEL_FILE_NOT_FOUND(`cannot fetch ${url.href}: no fetch on this host`);
    let res: Response;
    try {
      res = await this.#fetch(url);
    } catch (e) {
      throw Errors.MODEL_FILE_NOT_FOUND(`cannot fetch model ${url.href}: ${messageOf(e)}`, { url: url.href }, e);
    }
    if (!res.ok) throw Errors.MODEL_FILE_NOT_FOUND(`fetching model ${url.href} gave HTTP ${res.status}`, { url: url.href, status: res.status });
    return new Uint8Array(await res.arrayBuffer());
  }

  async #readSidecarConfig(path: string): Promise<unknown> {
    if (!this.#readFile || !path.endsWith('.onnx')) return undefined;
    const sidecar = `${path.slice(0, -'.onnx'.length)}.config.json`;
    let text: string;
    try {
      text = new TextDecoder().decode(await this.#readFile(sidecar));
    } catch {
      return undefined;
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw Errors.INVALID_CONFIG(`${sidecar}: not valid JSON: ${messageOf(e)}`, { path: sidecar });
    }
  }
}

function nameFromPath(path: string | undefined): string | undefined {
  if (!path) return undefined;
  const base = path.split(/[\\/]/).pop() ?? '';
  return base.replace(/\.onnx$/i, '') || undefined;
}

/**
 * True when a session could not be made because the backend has no kernel for an operator of
 * the model, its device lacks a feature the model needs (`details.missingFeature`), or the
 * device refused the warm-up's GPU work (`details.deviceRefused`).
 */
function backendCannotRun(e: unknown): boolean {
  if (!isOmniserveError(e, 'INVALID_MODEL')) return false;
  if (typeof e.details?.['missingFeature'] === 'string' || e.details?.['deviceRefused'] === true) return true;
  return /No Op registered for|Could not find an implementation for/.test(messageOf(e));
}
