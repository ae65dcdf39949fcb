/**
 * Webhook delivery: signed POSTs (Standard Webhooks) of job results to client callback
 * URLs, retried with exponential backoff and full jitter from a store, so retries survive
 * a worker restart. Host capabilities come in as functions: `check` (the SSRF guard with
 * the host's DNS), `fetch` (ideally one that connects only to the checked addresses), and
 * the store.
 *
 * Outcomes per attempt: 2xx delivered; 408, 429, 5xx, network errors and timeouts retried;
 * any other status (3xx: redirects are not followed, they could lead past the guard; 4xx)
 * failed for good; a refused URL failed at once, never connected to.
 * @module
 */
import { messageOf } from '../errors.ts';
import { signWebhook, type WebhookSecret } from './sign.ts';
import { redact, refusalOf, type CheckedUrl } from './ssrf.ts';
import type { ClaimedDelivery, DeliveryUpdate, WebhookDelivery, WebhookState, WebhookStore } from './types.ts';

/**
 * Sends one request. `target` holds the addresses the SSRF check vetted; a pinning fetch
 * connects only to those. The global `fetch` fits this type (it ignores `target`).
 */
export type WebhookFetch = (url: string, init: RequestInit, target: CheckedUrl) => Promise<Response>;

/** Options for {@link createWebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  secret: WebhookSecret;
  /** The SSRF guard, e.g. `createUrlChecker({ resolve, allow })`. Throws to refuse. */
  check: (url: string) => Promise<CheckedUrl>;
  fetch: WebhookFetch;
  store: WebhookStore;
  /** Per-attempt deadline, headers and body (default 5,000 ms). */
  timeoutMs?: number;
  /** Attempts before giving up (default 8). */
  maxAttempts?: number;
  /** First retry waits up to this long; each further one doubles it (default 1,000 ms). */
  baseDelayMs?: number;
  /** The longest wait between attempts (default 1 h). */
  maxDelayMs?: number;
  /**
   * How long a claimed delivery stays hidden from other workers (default 2 × timeoutMs +
   * 10 s). A worker that dies mid-delivery delays that delivery by this much.
   */
  leaseMs?: number;
  /** Deliveries claimed per `runDue` (default 16), sent concurrently. */
  batchSize?: number;
  /** Called after every attempt: metrics, job records. Must not throw. */
  onOutcome?: (outcome: WebhookOutcome) => void;
  /** Errors of the background loop of `start()` (store outages); default console.warn. */
  onError?: (error: unknown) => void;
  /** For tests: the jitter source (default Math.random). */
  random?: () => number;
}

/** What happened in one attempt. `retry` means another attempt is scheduled. */
export interface WebhookOutcome {
  readonly id: string;
  readonly jobId?: string;
  readonly outcome: 'delivered' | 'retry' | 'failed' | 'refused';
  readonly attempt: number;
  readonly status?: number;
  readonly error?: string;
  readonly nextAttemptAt?: number;
  /** False when the lease had run out and another worker owns the delivery now. */
  readonly recorded: boolean;
}

/** A delivery as a job record shows it (snake_case, ISO times, like the HTTP API). */
export interface WebhookStatus {
  status: WebhookState;
  attempts: number;
  last_error?: string;
  last_status?: number;
  next_attempt_at?: string;
  delivered_at?: string;
}

/** What to deliver. */
export interface WebhookRequest {
  /** The `webhook-id` (default `msg_<uuid>`); enqueueing an existing id is a no-op. */
  id?: string;
  url: string;
  /** Anything JSON-serializable; sent as the body. */
  payload: unknown;
  jobId?: string;
}

/** A running dispatcher. */
export interface WebhookDispatcher {
  /** Persists a delivery, due now. Returns its id. */
  enqueue(request: WebhookRequest, now?: number): Promise<string>;
  /** Claims and delivers what is due at `now`; resolves when those attempts have finished. */
  runDue(now?: number): Promise<WebhookOutcome[]>;
  /** The delivery's status for a job record, or null when unknown. */
  status(id: string): Promise<WebhookStatus | null>;
  /** Runs `runDue` every `intervalMs` (default 1,000) until `stop()`. */
  start(options?: { intervalMs?: number }): { stop(): Promise<void> };
}

/** Full-jitter exponential backoff: uniform in [0, min(max, base · 2^(attempt-1))). */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 52));
  return Math.floor(random() * cap);
}

/** Creates a dispatcher; throws TypeError on nonsensical numbers. */
export function createWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const {
    secret, check, fetch, store, timeoutMs = 5_000, maxAttempts = 8, baseDelayMs = 1_000,
    maxDelayMs = 3_600_000, batchSize = 16, onOutcome, random = Math.random,
  } = options;
  const leaseMs = options.leaseMs ?? 2 * timeoutMs + 10_000;
  const onError = options.onError ?? ((e: unknown) => console.warn(`webhooks: ${messageOf(e)}`));
  for (const [name, v] of Object.entries({ timeoutMs, maxAttempts, baseDelayMs, maxDelayMs, leaseMs, batchSize })) {
    if (!Number.isFinite(v) || v < 0 || (v === 0 && name !== 'baseDelayMs')) throw new TypeError(`webhooks: ${name} must be a positive number, got ${v}`);
  }
  if (leaseMs <= timeoutMs) throw new TypeError(`webhooks: leaseMs (${leaseMs}) must exceed timeoutMs (${timeoutMs}), or attempts could overlap`);

  async function attempt(d: ClaimedDelivery, now: number): Promise<WebhookOutcome> {
    const base = { id: d.id, ...(d.jobId === undefined ? {} : { jobId: d.jobId }), attempt: d.attempts };
    const finish = async (outcome: WebhookOutcome['outcome'], update: DeliveryUpdate): Promise<WebhookOutcome> => {
      const recorded = await store.complete(d.id, d.lease, update);
      const result: WebhookOutcome = {
        ...base, outcome, recorded,
        ...(update.lastStatus === undefined ? {} : { status: update.lastStatus }),
        ...(update.lastError === undefined ? {} : { error: update.lastError }),
        ...(update.nextAttemptAt === undefined ? {} : { nextAttemptAt: update.nextAttemptAt }),
      };
      onOutcome?.(result);
      return result;
    };
    const retry = (error: string, status?: number, notBeforeMs = 0): Promise<WebhookOutcome> => {
      if (d.attempts >= maxAttempts) {
        return finish('failed', { status: 'failed', lastStatus: status, lastError: `${error} (gave up after ${d.attempts} attempts)` });
      }
      const delay = Math.min(maxDelayMs, Math.max(backoffDelay(d.attempts, baseDelayMs, maxDelayMs, random), notBeforeMs));
      return finish('retry', { status: 'pending', nextAttemptAt: now + delay, lastStatus: status, lastError: error });
    };

    // Claiming counts the attempt, so one whose worker died before reporting is counted.
    if (d.attempts > maxAttempts) {
      return finish('failed', { status: 'failed', lastError: `gave up after ${maxAttempts} attempts; the last one never reported (worker stopped?)` });
    }
    let target: CheckedUrl;
    try {
      target = await check(d.url);
    } catch (e) {
      if (refusalOf(e) !== undefined) return finish('refused', { status: 'failed', lastError: messageOf(e) });
      return retry(`resolving the callback host failed: ${messageOf(e)}`);
    }
    let response: Response;
    try {
      const headers = await signWebhook({ id: d.id, timestamp: Math.floor(Date.now() / 1000), body: d.body, secret });
      response = await fetch(d.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'omniserve-webhooks' },
        body: d.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      }, target);
    } catch (e) {
      if (refusalOf(e) !== undefined) return finish('refused', { status: 'failed', lastError: messageOf(e) });
      return retry(describeFailure(e, timeoutMs));
    }
    // The body is never used; cancel it so the connection is released now.
    await response.body?.cancel().catch(() => {});
    const s = response.status;
    if (s >= 200 && s < 300) return finish('delivered', { status: 'delivered', deliveredAt: now, lastStatus: s });
    if (s === 408 || s === 429 || s >= 500) return retry(`HTTP ${s} from ${redact(target.url)}`, s, retryAfterMs(response, now));
    const why = s >= 300 && s < 400 ? ' (redirects are not followed)' : '';
    return finish('failed', { status: 'failed', lastStatus: s, lastError: `HTTP ${s} from ${redact(target.url)}${why}` });
  }

  async function runDue(now = Date.now()): Promise<WebhookOutcome[]> {
    const claimed = await store.claim(now, batchSize, leaseMs);
    return Promise.all(claimed.map((d) => attempt(d, now)));
  }

  return {
    async enqueue(request, now = Date.now()) {
      const id = request.id ?? `msg_${crypto.randomUUID()}`;
      if (typeof request.url !== 'string' || request.url === '') throw new TypeError('webhooks: enqueue needs a url');
      const body = JSON.stringify(request.payload);
      if (body === undefined) throw new TypeError(`webhooks: the payload of ${id} is not JSON-serializable`);
      await store.add({
        id, url: request.url, body, status: 'pending', attempts: 0, createdAt: now, nextAttemptAt: now,
        ...(request.jobId === undefined ? {} : { jobId: request.jobId }),
      });
      return id;
    },
    runDue,
    async status(id) {
      const d = await store.get(id);
      return d === null ? null : toWebhookStatus(d);
    },
    start({ intervalMs = 1_000 } = {}) {
      let stopped = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let running: Promise<void> = Promise.resolve();
      const tick = () => {
        running = runDue().then(
          // A full batch means more may be due: go again at once instead of waiting.
          (done) => { if (!stopped) timer = setTimeout(tick, done.length >= batchSize ? 0 : intervalMs); },
          (e) => { onError(e); if (!stopped) timer = setTimeout(tick, intervalMs); },
        );
      };
      tick();
      return {
        async stop() {
          stopped = true;
          clearTimeout(timer);
          await running;
        },
      };
    },
  };
}

/** A stored delivery as a job record shows it. */
export function toWebhookStatus(d: WebhookDelivery): WebhookStatus {
  const out: WebhookStatus = { status: d.status, attempts: d.attempts };
  if (d.lastError !== undefined) out.last_error = d.lastError;
  if (d.lastStatus !== undefined) out.last_status = d.lastStatus;
  if (d.status === 'pending' && d.nextAttemptAt !== undefined) out.next_attempt_at = new Date(d.nextAttemptAt).toISOString();
  if (d.deliveredAt !== undefined) out.delivered_at = new Date(d.deliveredAt).toISOString();
  return out;
}

/** A readable reason for a failed fetch: timeout, or the network error's code. */
function describeFailure(e: unknown, timeoutMs: number): string {
  const name = (e as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const cause = (e as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const code = (e as { code?: unknown } | null)?.code ?? cause?.code;
  const detail = typeof cause?.message === 'string' && cause.message !== messageOf(e) ? `: ${cause.message}` : '';
  return `${messageOf(e)}${detail}${typeof code === 'string' && !detail.includes(code) && !messageOf(e).includes(code) ? ` (${code})` : ''}`;
}

/** Retry-After in ms (seconds or an HTTP date), 0 when absent or unreadable. */
function retryAfterMs(response: Response, now: number): number {
  const v = response.headers.get('retry-after');
  if (v === null) return 0;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1_000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? 0 : Math.max(0, at - now);
}
