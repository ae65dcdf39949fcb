/**
 * Opens the feature store a config's `featureStore` section describes (memory from a file,
 * Redis over TCP, Upstash REST): what `omniserve serve` looks features up in and what
 * `omniserve stream` enriches events from (one section, one schema, one opener).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { Errors } from '../../src/errors.ts';
import { createMemoryFeatureStore } from '../../src/features/memory-store.ts';
import { parseFeatureFile } from '../../src/features/load-file.ts';
import { createUpstashFeatureStore } from '../../src/features/upstash-store.ts';
import { SERVER_COALESCING } from '../../src/features/coalesce.ts';
import type { FeatureStore } from '../../src/features/types.ts';
import type { ClientCacheOptions } from '../../src/features/client-cache.ts';
import type { ServerConfig } from '../../src/config/schema.ts';
import { createRedisFeatureStore } from './redis-store.ts';

/** Hooks of {@link openFeatureStore}. */
export interface OpenFeatureStoreHooks {
  /** Told after each lookup through a client-side cache: keys served from memory, keys read. */
  onCacheLookup?: (hits: number, misses: number) => void;
}

/** Opens the configured store; undefined for `kind: "none"`. `at` resolves a file path. */
export async function openFeatureStore(fs: ServerConfig['featureStore'], at: (p: string) => string, hooks: OpenFeatureStoreHooks = {}): Promise<FeatureStore | undefined> {
  switch (fs.kind) {
    case 'none':
      return undefined;
    case 'memory': {
      if (!fs.path) return createMemoryFeatureStore();
      const path = at(fs.path);
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await readFile(path));
      } catch {
        throw Errors.INVALID_CONFIG(`featureStore.path: cannot read ${path}`, { path: 'featureStore.path' });
      }
      return createMemoryFeatureStore(await parseFeatureFile(bytes, path, { keyColumn: fs.keyColumn, prefix: fs.prefix }));
    }
    case 'redis':
      if (!fs.url) throw Errors.INVALID_CONFIG('featureStore.url: a Redis URL is needed (or REDIS_URL)', { path: 'featureStore.url' });
      return createRedisFeatureStore({
        url: fs.url,
        ...clientCacheOf(fs.clientCache, hooks),
      });
    case 'upstash':
      if (!fs.url || !fs.token) {
        throw Errors.INVALID_CONFIG('featureStore: url and token are needed (or UPSTASH_REDIS_REST_URL/TOKEN)', { path: 'featureStore' });
      }
      return createUpstashFeatureStore({
        url: fs.url, token: fs.token, coalescing: SERVER_COALESCING,
        ...clientCacheOf(fs.clientCache, hooks),
      });
  }
}

/** The store option for a configured `clientCache`, with the lookup hook when there is one. */
function clientCacheOf(cc: ClientCacheOptions | undefined, hooks: OpenFeatureStoreHooks): { clientCache?: ClientCacheOptions } {
  return cc ? { clientCache: { ...cc, ...(hooks.onCacheLookup ? { onLookup: hooks.onCacheLookup } : {}) } } : {};
}
