/**
 * A client-side cache of feature hashes in front of a store that tells it when a key changes
 * (Redis's server-assisted client-side caching, `CLIENT TRACKING`): a key read once is served
 * from this process's memory until Redis says it was written, deleted, expired or flushed, or
 * until `ttlMs` passes (a bound on staleness should an invalidation ever be missed; for a
 * store with no invalidation, Upstash REST, the only bound). Hot
 * entities then cost no round trip and no Redis CPU; see the README (Serving) and docs/design.md.
 *
 * The one race: a reply read before a write and an invalidation sent after it can arrive
 * in either order (with `REDIRECT` they travel on two connections). So a key's reply is
 * cached only when no invalidation of that key, and no flush, came while the key was being
 * read; otherwise it is served to its callers once and read again next time.
 * Web-API-only: the store driver wires `invalidate` to its invalidation messages.
 * @module
 */
import type { FeatureValues } from './types.ts';

/** Options of {@link createClientCache}. */
export interface ClientCacheOptions {
  /** Most keys held; the least recently used goes first (default 100,000). */
  maxEntries?: number;
  /** Longest time a key is served from memory, invalidation or not (default 60,000 ms). */
  ttlMs?: number;
  /** Clock in milliseconds (default `Date.now`); tests pass their own. */
  now?: () => number;
  /** Told after every lookup how many of its keys were served from memory and how many were read. */
  onLookup?: (hits: number, misses: number) => void;
}

/** Counters of a {@link ClientCache}. */
export interface ClientCacheStats {
  /** Keys served from memory. */
  hits: number;
  /** Keys read from the store. */
  misses: number;
  /** Keys invalidated by the store (flushes count once). */
  invalidations: number;
  /** Replies not kept because their key was invalidated while it was being read. */
  raced: number;
}

/** Hashes by key, from memory where the store has not said they changed. */
export interface ClientCache {
  /** Values for `keys` in order: held ones from memory, the rest through `load` (one call). */
  getMany(keys: readonly string[], load: (keys: readonly string[]) => Promise<(FeatureValues | null)[]>): Promise<(FeatureValues | null)[]>;
  /** The store says these keys changed; `null`: everything may have (flush, lost connection). */
  invalidate(keys: readonly string[] | null): void;
  readonly size: number;
  readonly stats: Readonly<ClientCacheStats>;
}

interface Entry {
  readonly value: FeatureValues | null;
  readonly expiresAt: number;
}

/** A store's `getMany`: through `cache` when it has one (only the keys not held reach `load`), else `load` itself. */
export function cachedGetMany(cache: ClientCache | undefined, load: (keys: readonly string[]) => Promise<(FeatureValues | null)[]>):
(keys: readonly string[]) => Promise<(FeatureValues | null)[]> {
  return cache ? (keys) => cache.getMany(keys, load) : load;
}

/** Creates an empty cache. Values are shared between callers: they must not be mutated. */
export function createClientCache(options: ClientCacheOptions = {}): ClientCache {
  const maxEntries = options.maxEntries ?? 100_000;
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const onLookup = options.onLookup;
  const map = new Map<string, Entry>();
  /** Keys being read: how many reads each. */
  const reading = new Map<string, number>();
  /** Keys invalidated while being read: their replies are not kept. */
  const dirty = new Set<string>();
  /** Bumped by every flush: a read that began before one keeps nothing. */
  let epoch = 0;
  const stats: ClientCacheStats = { hits: 0, misses: 0, invalidations: 0, raced: 0 };

  const settle = (keys: readonly string[], values: readonly (FeatureValues | null)[] | undefined, began: number): void => {
    const expiresAt = now() + ttlMs;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const left = reading.get(k)! - 1;
      if (values !== undefined) {
        if (began !== epoch || dirty.has(k)) stats.raced++;
        else {
          map.delete(k);
          map.set(k, { value: values[i] ?? null, expiresAt });
          if (map.size > maxEntries) map.delete(map.keys().next().value!);
        }
      }
      if (left === 0) {
        reading.delete(k);
        dirty.delete(k);
      } else reading.set(k, left);
    }
  };

  return {
    get size() {
      return map.size;
    },
    stats,
    getMany(keys, load) {
      const t = now();
      let out: (FeatureValues | null)[] | undefined;
      let missing: string[] | undefined;
      let at: number[] | undefined;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const e = map.get(k);
        if (e !== undefined && e.expiresAt > t) {
          // Least recently used first: a hit moves to the end.
          map.delete(k);
          map.set(k, e);
          (out ??= new Array(keys.length))[i] = e.value;
          continue;
        }
        if (e !== undefined) map.delete(k);
        (missing ??= []).push(k);
        (at ??= []).push(i);
      }
      const hits = keys.length - (missing?.length ?? 0);
      stats.hits += hits;
      stats.misses += missing?.length ?? 0;
      onLookup?.(hits, missing?.length ?? 0);
      if (missing === undefined) return Promise.resolve(out ?? []);
      // One read per distinct key: a key asked twice in one call is counted once as reading.
      const distinct = missing.length > 1 ? [...new Set(missing)] : missing;
      for (const k of distinct) reading.set(k, (reading.get(k) ?? 0) + 1);
      const began = epoch;
      return load(distinct).then((values) => {
        settle(distinct, values, began);
        const result = out ?? new Array<FeatureValues | null>(keys.length);
        if (distinct === missing) for (let j = 0; j < at!.length; j++) result[at![j]!] = values[j] ?? null;
        else {
          const byKey = new Map(distinct.map((k, j) => [k, values[j] ?? null]));
          for (let j = 0; j < at!.length; j++) result[at![j]!] = byKey.get(missing![j]!)!;
        }
        return result;
      }, (e: unknown) => {
        settle(distinct, undefined, began);
        throw e;
      });
    },
    invalidate(keys) {
      if (keys === null) {
        epoch++;
        stats.invalidations++;
        map.clear();
        return;
      }
      for (const k of keys) {
        stats.invalidations++;
        map.delete(k);
        if (reading.has(k)) dirty.add(k);
      }
    },
  };
}
