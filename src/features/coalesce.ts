/**
 * A microtask-batched loader: every `load(keys)` made in the same tick joins one call of
 * `fetchMany`, with duplicate keys asked once. A feature lookup per request then costs one
 * round trip per tick, not one per request, which is what keeps Redis and Upstash latency
 * flat under concurrency.
 * @module
 */

/** Counters for tests and metrics; `flushes` is the number of round trips made. */
export interface CoalescerStats {
  /** `load` calls. */
  calls: number;
  /** `fetchMany` calls (round trips). */
  flushes: number;
  /** Distinct keys sent, summed over flushes. */
  keys: number;
}

/** A loader that merges concurrent `load` calls. */
export interface Coalescer<V> {
  /** Values for `keys`, in order; rejects with whatever `fetchMany` rejected with. */
  load(keys: readonly string[]): Promise<V[]>;
  readonly stats: Readonly<CoalescerStats>;
}

/** Options for {@link createCoalescer}. */
export interface CoalescerOptions {
  /**
   * Distinct keys per flush before a new batch starts (default 10,000). One call's keys are
   * never split, so a single call larger than this still makes exactly one round trip.
   */
  maxBatch?: number;
}

interface Waiter<V> {
  keys: readonly string[];
  resolve(values: V[]): void;
  reject(err: unknown): void;
}

interface Batch<V> {
  index: Map<string, number>;
  keys: string[];
  waiters: Waiter<V>[];
  started: boolean;
}

/**
 * Wraps `fetchMany` (distinct keys → values in the same order) in a coalescing loader.
 * Web-API-only: it schedules with promises, so it runs on every host.
 */
export function createCoalescer<V>(
  fetchMany: (keys: string[]) => Promise<V[]>,
  options: CoalescerOptions = {},
): Coalescer<V> {
  const maxBatch = options.maxBatch ?? 10_000;
  const stats: CoalescerStats = { calls: 0, flushes: 0, keys: 0 };
  let pending: Batch<V> | null = null;

  const run = (batch: Batch<V>): void => {
    if (batch.started) return;
    batch.started = true;
    if (pending === batch) pending = null;
    stats.flushes++;
    stats.keys += batch.keys.length;
    let result: Promise<V[]>;
    try {
      result = fetchMany(batch.keys);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (values) => {
        for (const w of batch.waiters) w.resolve(w.keys.map((k) => values[batch.index.get(k)!]!));
      },
      (err: unknown) => {
        for (const w of batch.waiters) w.reject(err);
      },
    );
  };

  const open = (): Batch<V> => {
    const batch: Batch<V> = { index: new Map(), keys: [], waiters: [], started: false };
    // Two microtask hops, not one: callers that awaited once before calling (an async
    // handler's first line) still join this batch. No timer, so no added latency.
    Promise.resolve().then(() => undefined).then(() => run(batch));
    return batch;
  };

  return {
    stats,
    load(keys) {
      stats.calls++;
      if (keys.length === 0) return Promise.resolve([]);
      if (pending && pending.keys.length > 0 && pending.keys.length + keys.length > maxBatch) run(pending);
      const batch = (pending ??= open());
      for (const k of keys) {
        if (!batch.index.has(k)) batch.index.set(k, batch.keys.push(k) - 1);
      }
      return new Promise<V[]>((resolve, reject) => batch.waiters.push({ keys, resolve, reject }));
    },
  };
}
