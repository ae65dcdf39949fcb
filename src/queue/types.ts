/**
 * The async job queue's contract: what a job record holds, and what every queue driver
 * (memory, Redis Streams) promises. Web-API-only.
 *
 * Delivery is at-least-once, results are exactly-once: a job taken by a worker that dies is
 * handed to another worker after `claimIdleMs`; the first final result stored wins and is
 * never overwritten, so duplicated work is possible but each job has one final answer.
 * @module
 */
import type { ErrorCode } from '../errors.ts';

/** Where a job is in its life. `completed` and `failed` are final. */
export type JobStatus = 'pending' | 'processing' | 'completed' | 'failed';

/** What a client asked for: the realtime request shape. */
export interface JobRequest {
  readonly user_id?: string | number;
  readonly item_id?: string | number;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly features?: Readonly<Record<string, unknown>>;
  readonly instances?: readonly Readonly<Record<string, unknown>>[];
}

/** A job's failure, as clients see it. */
export interface JobError {
  readonly error: string;
  readonly code: ErrorCode;
}

/** One job, as stored. */
export interface JobRecord {
  readonly request_id: string;
  readonly model: string;
  /** The version asked for; absent: the default version when the job runs. */
  readonly version?: string;
  readonly status: JobStatus;
  readonly request: JobRequest;
  readonly result?: unknown;
  readonly error?: JobError;
  /** Times a worker started this job (redeliveries included). */
  readonly attempts: number;
  /** ISO times. */
  readonly created_at: string;
  readonly updated_at: string;
  readonly callback_url?: string;
}

/** A job to enqueue. */
export interface NewJob {
  readonly model: string;
  readonly version?: string;
  readonly request: JobRequest;
  readonly callback_url?: string;
}

/** A job a worker holds; `attempts` already counts this delivery. */
export interface ClaimedJob {
  readonly job: JobRecord;
  /** Driver-private handle of this delivery (the stream entry id for Redis). */
  readonly token: string;
}

/** What one `claim` call hands out. */
export interface ClaimResult {
  /** Jobs to run now (marked `processing`). */
  readonly jobs: ClaimedJob[];
  /** Jobs that hit the delivery limit during this claim: already failed and dead-lettered. */
  readonly dead: JobRecord[];
  /** Jobs handed out again after a worker held them past `claimIdleMs`. */
  readonly reclaimed: number;
}

/** Options of `claim`. */
export interface ClaimOptions {
  /** Wait at most this long for work when none is there (default 1,000 ms). */
  readonly blockMs?: number;
  /** Stops the wait early (shutdown). */
  readonly signal?: AbortSignal;
}

/** How `complete`/`fail` ended: `stored` is false when another worker's final result was there first. */
export interface Finish {
  readonly job: JobRecord;
  readonly stored: boolean;
}

/** Queue depth for the metrics. */
export interface QueueStats {
  /** Jobs waiting or being worked on. */
  readonly depth: number;
  /** Age of the oldest of those (0 when none). */
  readonly oldestAgeMs: number;
}

/** Settings every driver shares. */
export interface QueueSettings {
  /** Job records (and idempotency keys) expire this long after their last change. Default 86,400. */
  readonly ttlSeconds?: number;
  /** A job held this long without a result is handed to another worker. Default 30,000. */
  readonly claimIdleMs?: number;
  /** Deliveries before a job is failed for good and dead-lettered. Default 5. */
  readonly maxDeliveries?: number;
}

/**
 * The side of a queue that the HTTP routes need: submit, read, count. Edge hosts (workerd)
 * have only this (over Upstash REST); workers elsewhere drain the same queue.
 */
export interface JobIntake {
  readonly kind: 'memory' | 'redis' | 'upstash';
  /** Stores and enqueues a job; a repeated idempotency key returns the first job's id. */
  submit(job: NewJob, opts?: { idempotencyKey?: string }): Promise<{ request_id: string; duplicate: boolean }>;
  /** The job, or undefined when unknown or expired. */
  get(id: string): Promise<JobRecord | undefined>;
  stats(): Promise<QueueStats>;
  close(): Promise<void>;
}

/** An async job queue: the intake plus what workers do. */
export interface JobQueue extends JobIntake {
  readonly kind: 'memory' | 'redis';
  readonly maxDeliveries: number;
  /** Takes up to `max` jobs for `consumer`: idle ones other workers abandoned first, then new ones. */
  claim(consumer: string, max: number, opts?: ClaimOptions): Promise<ClaimResult>;
  /** Stores the result, then acknowledges (a crash in between redelivers; it never loses). */
  complete(claimed: ClaimedJob, result: unknown): Promise<Finish>;
  /**
   * `final`: stores the failure and acknowledges. Not final: the job goes back to the queue
   * with the error noted, to be tried again (up to `maxDeliveries` attempts in all).
   */
  fail(claimed: ClaimedJob, error: JobError, opts: { final: boolean }): Promise<Finish>;
}

/** Defaults of {@link QueueSettings}. */
export const QUEUE_DEFAULTS = { ttlSeconds: 86_400, claimIdleMs: 30_000, maxDeliveries: 5 } as const;

/** True for `completed` and `failed`. */
export const isFinal = (s: JobStatus): boolean => s === 'completed' || s === 'failed';

/** The failure stored for a job that ran out of deliveries. */
export function deliveryLimitError(attempts: number): JobError {
  return {
    error: `the job was started ${attempts} times without a result (workers died or hit server errors while running it); it was moved to the dead-letter queue`,
    code: 'DELIVERY_LIMIT_EXCEEDED',
  };
}

/** A new request id: random, URL-safe. */
export function newRequestId(): string {
  return crypto.randomUUID();
}
