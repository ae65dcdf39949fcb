/**
 * The engine: a host's backends plus a model registry. Hosts build one with
 * `createEngine(runtime)`; nothing here is a global, so two engines never share state.
 * @module
 */
import { BackendRegistry, type BackendRequest } from './backends/registry.ts';
import type { HostInfo } from './backends/host.ts';
import type { Backend } from './backends/types.ts';
import { ModelRegistry, type ReadFile } from './core/registry.ts';

/** What a host supplies. The only place host differences enter the core. */
export interface RuntimeAdapter {
  readonly host: HostInfo;
  /** Backends in priority order (best first). */
  readonly backends: readonly Backend[];
  /** File access, where the host has it. */
  readonly readFile?: ReadFile;
  readonly fetch?: typeof fetch;
}

/** A ready engine. */
export interface Engine {
  readonly host: HostInfo;
  readonly backends: BackendRegistry;
  readonly models: ModelRegistry;
  close(): Promise<void>;
}

/** Builds an engine over a runtime adapter. `backend` is the default for loads. */
export function createEngine(runtime: RuntimeAdapter, opts: { backend?: BackendRequest } = {}): Engine {
  const backends = new BackendRegistry(runtime.backends);
  const models = new ModelRegistry({ backends, readFile: runtime.readFile, fetch: runtime.fetch, backend: opts.backend });
  return { host: runtime.host, backends, models, close: () => models.close() };
}
