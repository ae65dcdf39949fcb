/**
 * The in-memory feature store: a Map of frozen hashes. The embedded default (loaded from the
 * bundled sample file) and the store tests use when Redis is not the point.
 * @module
 */
import type { FeatureStore, FeatureValues } from './types.ts';

/** Initial contents: entries (as `parseFeatureFile` returns them) or an object by key. */
export type MemoryStoreInit =
  | Iterable<readonly [string, FeatureValues]>
  | Readonly<Record<string, FeatureValues>>;

/** A {@link FeatureStore} over a Map; `size` is the number of hashes held. */
export interface MemoryFeatureStore extends FeatureStore {
  readonly kind: 'memory';
  readonly size: number;
}

/** Creates a memory store, optionally pre-loaded. */
export function createMemoryFeatureStore(initial?: MemoryStoreInit): MemoryFeatureStore {
  const map = new Map<string, FeatureValues>();
  const put = (key: string, values: FeatureValues): void => {
    // Null fields are dropped, as in Redis, so every driver reads the same hash back.
    const copy: Record<string, string | number | boolean> = {};
    for (const [f, v] of Object.entries(values)) if (v !== null && v !== undefined) copy[f] = v;
    map.set(key, Object.freeze(copy));
  };
  if (initial !== undefined) {
    const entries = Symbol.iterator in initial
      ? (initial as Iterable<readonly [string, FeatureValues]>)
      : Object.entries(initial as Readonly<Record<string, FeatureValues>>);
    for (const [k, v] of entries) put(k, v);
  }
  return {
    kind: 'memory',
    get size() {
      return map.size;
    },
    async getMany(keys) {
      return keys.map((k) => map.get(k) ?? null);
    },
    async setMany(entries) {
      for (const [k, v] of entries) put(k, v);
    },
    async ping() {
      return true;
    },
    async close() {
      map.clear();
    },
  };
}
