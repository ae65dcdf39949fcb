/**
 * The feature store `omniserve stream` enriches events from: the same drivers and the
 * same `featureStore` config section as the server (memory from a file, Redis over TCP,
 * Upstash REST), used read-only.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { Errors } from '../../src/errors.ts';
import { createMemoryFeatureStore } from '../../src/features/memory-store.ts';
import { parseFeatureFile } from '../../src/features/load-file.ts';
import { createUpstashFeatureStore } from '../../src/features/upstash-store.ts';
import { SERVER_COALESCING } from '../../src/features/coalesce.ts';
import type { FeatureStore } from '../../src/features/types.ts';
import type { StreamConfig } from '../../src/stream/config.ts';
import { createRedisFeatureStore } from './redis-store.ts';

/** Opens the configured store; undefined for `kind: "none"`. */
export async function openStreamFeatureStore(cfg: StreamConfig, at: (p: string) => string): Promise<FeatureStore | undefined> {
  const fs = cfg.featureStore;
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
      return createRedisFeatureStore({ url: fs.url });
    case 'upstash':
      if (!fs.url || !fs.token) {
        throw Errors.INVALID_CONFIG('featureStore: url and token are needed (or UPSTASH_REDIS_REST_URL/TOKEN)', { path: 'featureStore' });
      }
      return createUpstashFeatureStore({ url: fs.url, token: fs.token, coalescing: SERVER_COALESCING });
  }
}
