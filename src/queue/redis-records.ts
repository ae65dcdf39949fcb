/**
 * The Redis queue's layout: its keys under a prefix, the submit script's call for a new
 * job, and job records as stored (a hash: static `meta` JSON, `status`, `attempts`,
 * `updated_at`, `result`/`error` JSON) read back into {@link JobRecord}s. Shared by the TCP
 * driver (runtimes/native/redis-queue.ts) and the Upstash REST one, so both write and read
 * the same keys the same way.
 * @module
 */
import { newRequestId, type JobError, type JobRecord, type NewJob } from './types.ts';

/** The keys of a queue under `prefix` (default `omniserve:`). */
export interface QueueKeys {
  /** The stream of job ids, read by the consumer group. */
  readonly stream: string;
  /** The dead-letter stream. */
  readonly dead: string;
  job(id: string): string;
  idempotency(key: string | undefined): string;
}

export function queueKeys(prefix = 'omniserve:'): QueueKeys {
  return {
    stream: `${prefix}jobs`,
    dead: `${prefix}jobs:dead`,
    job: (id) => `${prefix}job:${id}`,
    idempotency: (key) => `${prefix}idem:${key ?? ''}`,
  };
}

/** KEYS and ARGV of the submit script (SCRIPTS.omniserveJobSubmit) for a new job. */
export function submitCall(k: QueueKeys, job: NewJob, ttlSeconds: number, idempotencyKey: string | undefined): { keys: string[]; args: (string | number)[] } {
  const id = newRequestId();
  const t = new Date().toISOString();
  const meta = JSON.stringify({
    request_id: id, model: job.model, ...(job.version !== undefined ? { version: job.version } : {}),
    request: job.request, created_at: t, ...(job.callback_url !== undefined ? { callback_url: job.callback_url } : {}),
  });
  return {
    keys: [k.job(id), k.stream, k.idempotency(idempotencyKey)],
    args: [id, meta, t, ttlSeconds, idempotencyKey === undefined ? 0 : 1],
  };
}

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
