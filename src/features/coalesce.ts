/**
 * A batching loader: every `load(keys)` made in the same turn of the event loop joins one
 * call of `fetchMany`, with duplicate keys asked once; while `maxInFlight` calls are out,
 * new keys wait and leave together when one comes back. A feature lookup per request then
 * costs a share of one round trip, not one round trip, which is what keeps Redis and Upstash
 * cost and latency flat under concurrency.
 *
 * "Turn" matters on servers: Node, Bun and Deno run every HTTP request that arrived in one
 * poll of the sockets as a separate callback, draining microtasks after each, so a flush
 * scheduled on a microtask sends one round trip per request. Servers there pass
 * {@link SERVER_COALESCING} (`setImmediate`: after every I/O callback of the turn, and a
 * window of 2 round trips). The default, two microtask hops and no window, is the one that
 * is safe everywhere: workerd refuses I/O made for one request from another's callbacks,
 * which a shared window or a timer-scheduled flush would do.
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
  /**
   * Values for `keys`, in order; rejects with whatever `fetchMany` rejected with, or with the
   * value of one of its keys that is an Error (an error about one key fails only the calls
   * that asked for it).
   */
  load(keys: readonly string[]): Promise<Exclude<V, Error>[]>;
  readonly stats: Readonly<CoalescerStats>;
}

/** Options for {@link createCoalescer}. */
export interface CoalescerOptions {
  /**
   * Distinct keys per flush before a new batch starts (default 10,000). One call's keys are
   * never split, so a single call larger than this still makes exactly one round trip.
   */
  maxBatch?: number;
  /**
   * Round trips allowed out at once (default unlimited). A batch that is ready while this many are
   * out waits for one to come back, gathering the calls made meanwhile: under load batches
   * grow with the round-trip time instead of round trips multiplying; idle, nothing waits.
   */
  maxInFlight?: number;
  /** Runs `fn` once the current turn's calls have been made (default: two microtask hops). */
  schedule?: (fn: () => void) => void;
}

interface Waiter<V> {
  keys: readonly string[];
  resolve(values: Exclude<V, Error>[]): void;
  reject(err: unknown): void;
}

interface Batch<V> {
  index: Map<string, number>;
  keys: string[];
  waiters: Waiter<V>[];
}

/** Two microtask hops: callers that awaited once before calling still join. */
export const microtaskSchedule = (fn: () => void): void => void Promise.resolve().then(() => undefined).then(fn);

type Immediate = (fn: () => void) => unknown;

/**
 * For long-lived servers on Node, Bun and Deno: flush after every I/O callback of the turn
 * (`setImmediate`), at most 2 round trips out. Measured on bench/realtime (64 connections):
 * ~32 lookups per round trip instead of 1.
 */
export const SERVER_COALESCING: CoalescerOptions = {
  maxInFlight: 2,
  schedule: (fn) => {
    const g = globalThis as { setImmediate?: Immediate };
    // Called on globalThis: a detached timer function is an illegal invocation on some hosts.
    if (typeof g.setImmediate === 'function') g.setImmediate(fn);
    else microtaskSchedule(fn);
  },
};

/**
 * Wraps `fetchMany` (distinct keys → values in the same order) in a coalescing loader.
 * Web-API-only.
 */
export function createCoalescer<V>(
  fetchMany: (keys: string[]) => Promise<V[]>,
  options: CoalescerOptions = {},
): Coalescer<V> {
  const maxBatch = options.maxBatch ?? 10_000;
  const maxInFlight = Math.max(1, options.maxInFlight ?? Infinity);
  const schedule = options.schedule ?? microtaskSchedule;
  const stats: CoalescerStats = { calls: 0, flushes: 0, keys: 0 };
  /** Batches closed for new keys, waiting for a free round trip, oldest first. */
  const ready: Batch<V>[] = [];
  let pending: Batch<V> | null = null;
  let inFlight = 0;

  const send = (batch: Batch<V>): void => {
    inFlight++;
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
        for (const w of batch.waiters) {
          const mine = w.keys.map((k) => values[batch.index.get(k)!]!);
          const bad = mine.find((v) => v instanceof Error);
          if (bad === undefined) w.resolve(mine as Exclude<V, Error>[]);
          else w.reject(bad);
        }
      },
      (err: unknown) => {
        for (const w of batch.waiters) w.reject(err);
      },
    ).finally(() => {
      inFlight--;
      drain();
    });
  };

  /** Sends ready batches, oldest first, as far as the window allows. */
  const drain = (): void => {
    while (inFlight < maxInFlight && ready.length > 0) send(ready.shift()!);
  };

  const open = (): Batch<V> => {
    const batch: Batch<V> = { index: new Map(), keys: [], waiters: [] };
    // When the turn is over the batch is closed for new keys and queued to be sent.
    schedule(() => {
      if (pending === batch) {
        ready.push(batch);
        pending = null;
      }
      drain();
    });
    return batch;
  };

  return {
    stats,
    load(keys) {
      stats.calls++;
      if (keys.length === 0) return Promise.resolve([]);
      if (pending && pending.keys.length > 0 && pending.keys.length + keys.length > maxBatch) {
        ready.push(pending);
        pending = null;
        drain();
      }
      // A batch waiting for a free round trip still takes keys, up to maxBatch.
      let batch = pending;
      if (!batch) {
        const last = ready.at(-1);
        batch = last && last.keys.length + keys.length <= maxBatch ? last : (pending = open());
      }
      for (const k of keys) {
        if (!batch.index.has(k)) batch.index.set(k, batch.keys.push(k) - 1);
      }
      return new Promise<Exclude<V, Error>[]>((resolve, reject) => batch.waiters.push({ keys, resolve, reject }));
    },
  };
}
