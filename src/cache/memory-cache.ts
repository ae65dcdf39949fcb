/**
 * The in-memory prediction cache: LRU with a TTL per entry and a bound on entries. A Map
 * keeps insertion order, so re-inserting on every hit makes its first key the least
 * recently used one: O(1) get, set and eviction with no linked list of our own.
 * @module
 */
import { Errors } from '../errors.ts';
import type { PredictionCache } from './types.ts';

/** Options for {@link createMemoryCache}. */
export interface MemoryCacheOptions {
  /** Most entries held; the least recently used goes first (default 10,000). */
  maxEntries?: number;
  /** Clock in milliseconds (default `Date.now`); tests pass their own. */
  now?: () => number;
}

/** A {@link PredictionCache} in a Map; `size` counts entries, expired ones included. */
export interface MemoryPredictionCache extends PredictionCache {
  readonly kind: 'memory';
  readonly size: number;
}

interface Entry {
  value: unknown;
  expiresAt: number;
}

/**
 * Creates a memory cache. Values are held by reference, not copied: callers must not
 * mutate what they put in or get out.
 */
export function createMemoryCache(options: MemoryCacheOptions = {}): MemoryPredictionCache {
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw Errors.INVALID_CONFIG(`cache maxEntries must be a positive integer, got ${maxEntries}`, { path: 'maxEntries' });
  }
  const map = new Map<string, Entry>();
  return {
    kind: 'memory',
    get size() {
      return map.size;
    },
    async get(key) {
      const entry = map.get(key);
      if (entry === undefined) return undefined;
      map.delete(key);
      if (entry.expiresAt <= now()) return undefined;
      map.set(key, entry);
      return entry.value;
    },
    async set(key, value, ttlMs) {
      map.delete(key);
      if (!(ttlMs > 0)) return;
      map.set(key, { value, expiresAt: now() + ttlMs });
      if (map.size > maxEntries) map.delete(map.keys().next().value!);
    },
    async close() {
      map.clear();
    },
  };
}
