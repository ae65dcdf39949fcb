/**
 * The job queue's intake over Upstash's Redis REST API (`@upstash/redis`), for hosts with
 * `fetch` and no TCP (Cloudflare Workers): submit, status reads and counts, with the same
 * Lua script and the same keys as the TCP driver (runtimes/native/redis-queue.ts), so
 * `omniserve worker` processes on any machine drain what the edge submits, and the edge
 * answers `GET /predict/{id}` from what they stored. It cannot claim jobs: workers run
 * where there are sockets and an inference backend worth batching on.
 * @module
 */
import { Redis } from '@upstash/redis/cloudflare';
import { Errors, messageOf } from '../errors.ts';
import { fromHash, queueKeys, submitCall } from './redis-records.ts';
import { SCRIPTS } from './redis-scripts.ts';
import { QUEUE_DEFAULTS, type JobIntake, type NewJob } from './types.ts';

/** Options of {@link createUpstashQueue}. */
export interface UpstashQueueOptions {
  readonly url: string;
  readonly token: string;
  /** Prefix of every key (default `omniserve:`, the TCP driver's). */
  readonly prefix?: string;
  /** Job records expire this long after their last change (default 86,400 s). */
  readonly ttlSeconds?: number;
  /** Per-request deadline (default 2,000 ms). */
  readonly timeoutMs?: number;
}

/** The intake; kind `upstash`. */
export interface UpstashJobIntake extends JobIntake {
  readonly kind: 'upstash';
}

const STATS = `local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
return {redis.call('XLEN', KEYS[1]), first[1] and first[1][1] or false}`;

/** Creates the intake; no request is made until the first call. */
export function createUpstashQueue(o: UpstashQueueOptions): UpstashJobIntake {
  if (!/^https?:\/\//.test(o.url) || !o.token) {
    throw Errors.INVALID_CONFIG('the Upstash job queue needs an http(s) url and a token', { url: o.url });
  }
  const ttl = o.ttlSeconds ?? QUEUE_DEFAULTS.ttlSeconds;
  const timeoutMs = o.timeoutMs ?? 2_000;
  const k = queueKeys(o.prefix);
  const redis = new Redis({
    url: o.url,
    token: o.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    enableTelemetry: false,
    retry: { retries: 1, backoff: () => 50 },
    signal: () => AbortSignal.timeout(timeoutMs),
  });
  const guard = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw Errors.QUEUE_UNAVAILABLE(`the Upstash job queue at ${o.url} is unavailable: ${messageOf(e)}`, { queue: 'upstash' }, e);
    }
  };

  return {
    kind: 'upstash',
    async submit(job: NewJob, opts = {}) {
      const call = submitCall(k, job, ttl, opts.idempotencyKey);
      const [rid, dup] = await guard(() => redis.eval<unknown[], [string, number]>(SCRIPTS.omniserveJobSubmit, call.keys, call.args));
      return { request_id: String(rid), duplicate: Number(dup) === 1 };
    },
    async get(id) {
      // Without automatic deserialisation the REST API's flat [field, value, ...] comes through.
      const h = await guard(() => redis.hgetall(k.job(id))) as unknown;
      if (Array.isArray(h)) return fromHash(h.map(String));
      return fromHash(h && typeof h === 'object' ? Object.entries(h).flatMap(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]) : []);
    },
    async stats() {
      const [depth, first] = await guard(() => redis.eval<[], [number, string | null]>(STATS, [k.stream], []));
      const d = Number(depth);
      const oldestAgeMs = d && typeof first === 'string' ? Math.max(0, Date.now() - Number(first.split('-')[0])) : 0;
      return { depth: d, oldestAgeMs };
    },
    async close() {},
  };
}
