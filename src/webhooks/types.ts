/**
 * Webhook deliveries and the store that keeps them. The store is what makes retries
 * survive a worker restart: a delivery is claimed with a lease, and a worker that dies
 * mid-delivery leaves it to be claimed again once the lease runs out.
 * @module
 */

/** Where a delivery stands. `pending` includes "being delivered right now". */
export type WebhookState = 'pending' | 'delivered' | 'failed';

/** One webhook: a signed POST of `body` to `url`, retried until delivered or given up. */
export interface WebhookDelivery {
  /** The `webhook-id`: the same on every attempt, so receivers can deduplicate. */
  readonly id: string;
  /** The async job this reports on, if any. */
  readonly jobId?: string;
  readonly url: string;
  /** The JSON body, serialized once so every attempt signs and sends the same bytes. */
  readonly body: string;
  readonly status: WebhookState;
  /** Attempts started (counted when claimed, so a crashed attempt counts too). */
  readonly attempts: number;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms of the next attempt (while one is in flight: when its lease runs out). */
  readonly nextAttemptAt?: number;
  readonly deliveredAt?: number;
  /** HTTP status of the last attempt that got a response. */
  readonly lastStatus?: number;
  readonly lastError?: string;
}

/** A delivery claimed by one worker; `lease` fences its result against a later claim. */
export interface ClaimedDelivery extends WebhookDelivery {
  readonly lease: string;
}

/** The outcome of one attempt, as the store records it. */
export interface DeliveryUpdate {
  readonly status: WebhookState;
  /** Required when `status` is `pending` (a retry). */
  readonly nextAttemptAt?: number;
  readonly deliveredAt?: number;
  /** Omitted fields are cleared, so the record shows the last attempt only. */
  readonly lastStatus?: number;
  readonly lastError?: string;
}

/** What the dispatcher needs from storage. Implementations: memory, Redis. */
export interface WebhookStore {
  /** Stores a new pending delivery due at `nextAttemptAt`; false (and no change) if the id exists. */
  add(delivery: WebhookDelivery & { readonly nextAttemptAt: number }): Promise<boolean>;
  /**
   * Atomically claims up to `limit` pending deliveries due at `now`: each gets its attempt
   * counter bumped, a fresh lease, and is hidden from other claims until `now + leaseMs`.
   * Two concurrent claims never return the same attempt.
   */
  claim(now: number, limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt's outcome if `lease` is still the current one; false when stale. */
  complete(id: string, lease: string, update: DeliveryUpdate): Promise<boolean>;
  get(id: string): Promise<WebhookDelivery | null>;
  close?(): Promise<void>;
}
