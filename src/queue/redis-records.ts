/**
 * Job records as the Redis queue stores them (a hash: static `meta` JSON, `status`,
 * `attempts`, `updated_at`, `result`/`error` JSON), read back into {@link JobRecord}s. Shared
 * by the TCP driver (runtimes/native/redis-queue.ts) and the Upstash REST one, so both read
 * the same keys the same way.
 * @module
 */
import type { JobError, JobRecord } from './types.ts';

/** A field of a stream entry's flat field/value list ('' when absent). */
export function fieldOf(fields: string[], name: string): string {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}

/** A stored hash (flat field/value list) → the record; empty (expired, unknown) → undefined. */
export function fromHash(flat: string[]): JobRecord | undefined {
  if (!flat || flat.length === 0) return undefined;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  if (h['meta'] === undefined) return undefined;
  const meta = JSON.parse(h['meta']) as Omit<JobRecord, 'status' | 'attempts' | 'updated_at'>;
  return {
    ...meta,
    status: (h['status'] ?? 'pending') as JobRecord['status'],
    attempts: Number(h['attempts'] ?? 0),
    updated_at: h['updated_at'] ?? meta.created_at,
    ...(h['result'] !== undefined ? { result: JSON.parse(h['result']) } : {}),
    ...(h['error'] !== undefined ? { error: JSON.parse(h['error']) as JobError } : {}),
  };
}
