/**
 * Webhooks for async jobs: when a job with a `callback_url` reaches its final state, the
 * worker's `onFinal` hook enqueues one signed delivery of the job's status (the body of
 * `GET /predict/{id}`), and a dispatcher loop delivers it with retries. The deliveries live
 * in Redis when the queue does (same URL), so a delivery a killed worker was retrying is
 * picked up by any other worker; with the memory queue they live in process memory, like
 * the jobs themselves.
 * @module
 */
import type { ServerConfig } from '../../src/config/schema.ts';
import { jobView } from '../../src/http/routes/async.ts';
import type { MetricsRegistry } from '../../src/metrics/registry.ts';
import type { JobRecord } from '../../src/queue/types.ts';
import { createWebhookDispatcher, type WebhookDispatcher, type WebhookStatus } from '../../src/webhooks/dispatcher.ts';
import { createMemoryWebhookStore } from '../../src/webhooks/memory-store.ts';
import { webhookMetrics } from '../../src/webhooks/metrics.ts';
import { secretBytes } from '../../src/webhooks/sign.ts';
import type { CheckedUrl, Resolve } from '../../src/webhooks/ssrf.ts';
import type { WebhookStore } from '../../src/webhooks/types.ts';
import { createWebhookTransport } from '../native/webhook-fetch.ts';
import { createRedisWebhookStore } from '../native/webhook-redis-store.ts';

/** The `webhook-id` of a job's delivery: derived, so a repeated `onFinal` is a no-op. */
export const jobWebhookId = (requestId: string): string => `msg_${requestId}`;

/** How often the delivery loop looks for due deliveries. */
const INTERVAL_MS = 500;

/** Job webhooks of one process. */
export interface JobWebhooks {
  readonly dispatcher: WebhookDispatcher;
  /** The SSRF guard, for checking `callback_url` at submit. Throws a refusal. */
  check(url: string): Promise<CheckedUrl>;
  /** The delivery status of a job's webhook, null when none was enqueued (yet). */
  status(jobId: string): Promise<WebhookStatus | null>;
  /** The worker hook: enqueues the job's delivery when it has a `callback_url`. */
  onFinal(job: JobRecord): Promise<void>;
  /** Starts the delivery loop; only processes that run a job worker deliver. */
  start(): void;
  /** Waits for enqueues in flight, stops the loop, then closes the store. */
  close(): Promise<void>;
}

/** Options for tests. */
export interface JobWebhookOptions {
  /** DNS for the SSRF guard (default: the system resolver). */
  resolve?: Resolve;
  /**
   * How long the check at submit may wait for DNS (default 2,000 ms). Past it the submit
   * goes on: only a refusal is final, and delivery checks again before connecting.
   */
  submitCheckTimeoutMs?: number;
}

/**
 * Builds the job webhooks a config describes, or undefined without a secret (then the
 * app refuses `callback_url`). Throws INVALID_CONFIG on a malformed secret or CIDR, so a
 * bad config fails at startup rather than at the first delivery.
 */
export function createJobWebhooks(cfg: ServerConfig, registry: MetricsRegistry, options: JobWebhookOptions = {}): JobWebhooks | undefined {
  const w = cfg.webhooks;
  if (w.secret === undefined) return undefined;
  secretBytes(w.secret);
  const transport = createWebhookTransport({ allow: w.allow, ...(options.resolve ? { resolve: options.resolve } : {}) });
  const store: WebhookStore = cfg.queue.kind === 'redis' && cfg.queue.url
    ? createRedisWebhookStore({ url: cfg.queue.url })
    : createMemoryWebhookStore();
  const dispatcher = createWebhookDispatcher({
    secret: w.secret, check: transport.check, fetch: transport.fetch, store,
    timeoutMs: w.timeoutMs, maxAttempts: w.maxAttempts, baseDelayMs: w.baseDelayMs, maxDelayMs: w.maxDelayMs,
    ...(w.leaseMs !== undefined ? { leaseMs: w.leaseMs } : {}),
    onOutcome: webhookMetrics(registry),
  });
  // The worker does not wait for its hook; shutdown must, or a final job's webhook could
  // be lost between the job's record and the store being closed.
  const enqueues = new Set<Promise<unknown>>();
  let loop: { stop(): Promise<void> } | undefined;

  return {
    dispatcher,
    check: (url) => withDeadline(transport.check(url), options.submitCheckTimeoutMs ?? 2_000, `checking ${new URL(url).host}`),
    status: (jobId) => dispatcher.status(jobWebhookId(jobId)),
    async onFinal(job) {
      if (!job.callback_url) return;
      // The delivery's status is served beside the job; it is not part of the payload.
      const p = dispatcher.enqueue({ id: jobWebhookId(job.request_id), url: job.callback_url, payload: jobView(job), jobId: job.request_id });
      enqueues.add(p);
      try {
        await p;
      } finally {
        enqueues.delete(p);
      }
    },
    start() {
      loop ??= dispatcher.start({ intervalMs: INTERVAL_MS });
    },
    async close() {
      await Promise.allSettled([...enqueues]);
      await loop?.stop();
      await store.close?.();
    },
  };
}

/** `p`, or a rejection (not an SSRF refusal) once `ms` have passed. */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
