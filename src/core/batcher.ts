/**
 * Dynamic micro-batching that says no. Concurrent requests for one model queue up and
 * go to the model as one run; while `maxConcurrent` runs are in flight the queue keeps
 * filling, which is where coalescing happens under load. A full queue rejects at once
 * with OVERLOADED (the HTTP layer answers 503 + Retry-After) instead of growing latency
 * without bound; deadlines and abort signals take a request out of the queue.
 *
 * Hot path: one small object per request (it is also the abort listener, so no closures
 * per request), no per-request timers: one shared flush timer and one shared deadline
 * timer (see {@link DeadlineWatch}).
 * @module
 */
import { Errors, isOmniserveError } from '../errors.ts';
import type { FeatureRow } from './features.ts';

/** Batching policy. Defaults: 64 rows, 0 ms, 4096 queued rows, 1 run in flight. */
export interface BatcherOptions {
  /** Most rows in one merged run; a single larger request still runs, alone. */
  readonly maxBatchSize?: number;
  /**
   * How long the first queued request waits for company; 0 (the default, as in Triton):
   * no timer, dispatch when a run slot is free at the end of the current turn (one
   * microtask after the first submit), so requests submitted in the same turn share a run
   * and requests batch further while runs are in flight. Measured on bench/realtime (64
   * connections, Redis features, 2 shared cores): 0 served 15-25 % more requests/s than
   * 2 ms on Node and Bun, at lower p50 and p99; a fixed wait held every connection in the
   * same batch, then the same Redis round trip, leaving the event loop idle in between.
   * Ending the turn first matters because the requests whose features came back in one
   * Redis reply all submit in one cascade of microtasks: dispatching inside the first
   * submit ran it alone and the rest as a second run (rows per run 15 → 27, Node server
   * CPU per request 81 → 57 µs in one A/B run).
   */
  readonly maxDelayMs?: number;
  /** Rows allowed to wait; past this, `submit` rejects with OVERLOADED. */
  readonly maxQueueRows?: number;
  /** Runs in flight at once. */
  readonly maxConcurrent?: number;
  /** After each successful run: rows, milliseconds, requests in it (for batch-size and latency histograms). */
  readonly onBatch?: (rows: number, ms: number, requests: number) => void;
}

/** Per-request limits. */
export interface SubmitOptions {
  /** Aborting removes a queued request, and rejects a running one with `signal.reason`. */
  readonly signal?: AbortSignal;
  /** Epoch milliseconds; past it the request is rejected with DEADLINE_EXCEEDED. */
  readonly deadline?: number;
}

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;
// setTimeout fires at once for delays past 2^31-1 ms; such a deadline is no deadline.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One submitted request. It is its own abort listener (`handleEvent`). */
class Pending<R> {
  state = QUEUED;
  /** Epoch ms past which it fails with DEADLINE_EXCEEDED; set with `watch`. */
  deadline = Infinity;
  watch: DeadlineWatch<R> | undefined;
  resolve!: (results: R[]) => void;
  reject!: (e: unknown) => void;
  readonly promise = new Promise<R[]>((res, rej) => { this.resolve = res; this.reject = rej; });

  constructor(
    /** The batcher's cancel (one function per batcher, not per request). */
    readonly cancel: (p: Pending<R>, err: unknown) => void,
    readonly records: readonly unknown[],
    readonly signal: AbortSignal | undefined,
  ) {}

  handleEvent(): void { this.cancel(this, abortError(this.signal!)); }
}

function expire<R>(p: Pending<R>): void {
  const state = p.state === QUEUED ? 'queued' : 'running';
  p.cancel(p, Errors.DEADLINE_EXCEEDED(`the request deadline passed while ${state === 'queued' ? 'queued' : 'the model was running'}`, { state }));
}

// AbortSignal.timeout() aborts with a TimeoutError: that is a deadline, so say so.
function abortError(signal: AbortSignal): unknown {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name === 'TimeoutError') return Errors.DEADLINE_EXCEEDED('the request timed out', { state: 'signal' }, r);
  return r ?? new DOMException('the request was aborted', 'AbortError');
}

// Errors a single request can cause (bad features, wrong shapes: 4xx). Those are worth
// re-running request by request; a broken session (5xx, plain errors) fails everyone.
const isRequestError = (e: unknown) => isOmniserveError(e) && e.status >= 400 && e.status < 500;

/**
 * The deadlines of one batcher's requests on one timer, armed for the earliest. A timer per
 * request cost 1-4 µs to set and clear (Node ~1, Deno 2-4: a visible share of a request);
 * requests of one server share their timeout, so the earliest is nearly always the oldest,
 * and the timer is re-armed rarely. Settled requests leave the list at the next sweep or
 * when they reach its head; with none left the timer is cleared (it never holds a process).
 */
class DeadlineWatch<R> {
  #list: Pending<R>[] = [];
  #head = 0;
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Infinity;

  add(p: Pending<R>): void {
    p.watch = this;
    this.#live++;
    const list = this.#list;
    // Drop settled requests from the head (they finish roughly in order).
    while (this.#head < list.length && list[this.#head]!.state === DONE) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > list.length) {
      list.splice(0, this.#head);
      this.#head = 0;
    }
    list.push(p);
    if (p.deadline < this.#at) this.#arm(p.deadline);
  }

  settled(): void {
    if (--this.#live > 0) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Infinity;
    this.#list = [];
    this.#head = 0;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = setTimeout(this.#sweep, Math.max(0, at - Date.now()));
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    this.#at = Infinity;
    const now = Date.now();
    const list = this.#list;
    const keep: Pending<R>[] = [];
    const late: Pending<R>[] = [];
    let next = Infinity;
    for (let i = this.#head; i < list.length; i++) {
      const p = list[i]!;
      if (p.state === DONE) continue;
      if (p.deadline <= now) late.push(p);
      else {
        keep.push(p);
        if (p.deadline < next) next = p.deadline;
      }
    }
    this.#list = keep;
    this.#head = 0;
    if (next < Infinity) this.#arm(next);
    // Last: expiring settles, and settling the last live request clears the watch.
    for (const p of late) expire(p);
  };
}

function settle<R>(p: Pending<R>, results: R[] | undefined, err: unknown): void {
  p.state = DONE;
  if (p.watch) p.watch.settled();
  p.signal?.removeEventListener('abort', p);
  if (results !== undefined) p.resolve(results);
  else p.reject(err);
}

function option(name: string, v: number | undefined, dflt: number, min: number, integer = true): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || (integer && !Number.isInteger(x))) {
    throw Errors.INVALID_CONFIG(`batching.${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}; got ${String(v)}`, { path: `batching.${name}` });
  }
  return x;
}

/**
 * Coalesces concurrent `submit`s for one model into shared runs.
 * ```ts
 * const batcher = new DynamicBatcher(model.predict.bind(model), { maxBatchSize: 32 });
 * const results = await batcher.submit(records, { deadline: Date.now() + 1000, signal: c.req.raw.signal });
 * ```
 */
export class DynamicBatcher<R, I = FeatureRow> {
  readonly #run: (records: readonly I[]) => Promise<R[]>;
  readonly #maxBatchSize: number;
  readonly #maxDelayMs: number;
  readonly #maxQueueRows: number;
  readonly #maxConcurrent: number;
  readonly #onBatch: BatcherOptions['onBatch'];
  readonly #queue: Pending<R>[] = [];
  readonly #drains: (() => void)[] = [];
  #queueRows = 0;
  #inFlight = 0;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #deadlines = new DeadlineWatch<R>();
  #batches = 0;
  #rows = 0;
  #coalesced = 0;

  /** `run` must return one result per record, in order (as `Model.predict` does). */
  constructor(run: (records: readonly I[]) => Promise<R[]>, opts: BatcherOptions = {}) {
    this.#run = run;
    this.#maxBatchSize = option('maxBatchSize', opts.maxBatchSize, 64, 1);
    this.#maxDelayMs = option('maxDelayMs', opts.maxDelayMs, 0, 0, false);
    this.#maxQueueRows = option('maxQueueRows', opts.maxQueueRows, 4096, 1);
    this.#maxConcurrent = option('maxConcurrent', opts.maxConcurrent, 1, 1);
    this.#onBatch = opts.onBatch;
  }

  /** Rows waiting to be dispatched (the queue-depth gauge). */
  get queueRows(): number { return this.#queueRows; }
  /** Runs in flight now. */
  get inFlight(): number { return this.#inFlight; }
  /** True after `close()`. */
  get closed(): boolean { return this.#closed; }
  /** Calls of `run` so far (merged runs plus failure-isolation re-runs). */
  get batchesRun(): number { return this.#batches; }
  /** Rows passed to `run` so far. */
  get rowsRun(): number { return this.#rows; }
  /** Requests that shared a run with at least one other request. */
  get requestsCoalesced(): number { return this.#coalesced; }

  /**
   * Queues `records`; resolves with exactly their results, in order. Rejects with OVERLOADED
   * (queue full), BATCH_TOO_LARGE (more rows than the queue holds), DEADLINE_EXCEEDED,
   * SHUTTING_DOWN (after `close`), the abort reason, or the run's error (for a request error
   * in a merged run: only the request that caused it gets it).
   */
  submit(records: readonly I[], opts?: SubmitOptions): Promise<R[]> {
    if (this.#closed) return Promise.reject(Errors.SHUTTING_DOWN('the model is shutting down; retry on another instance'));
    if (!Array.isArray(records)) return Promise.reject(Errors.INVALID_REQUEST('records must be an array of objects'));
    const n = records.length;
    const max = this.#maxQueueRows;
    if (n === 0) return Promise.reject(Errors.EMPTY_BATCH('no records to score: the batch is empty'));
    if (n > max) return Promise.reject(Errors.BATCH_TOO_LARGE(`${n} records in one request; this model queues at most ${max}`, { rows: n, maxQueueRows: max }));
    if (this.#queueRows + n > max) {
      return Promise.reject(Errors.OVERLOADED(`overloaded: ${this.#queueRows} rows already queued (limit ${max}); retry shortly`,
        { queueRows: this.#queueRows, maxQueueRows: max }));
    }
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const wait = opts?.deadline === undefined ? Infinity : opts.deadline - Date.now();
    if (!(wait > 0)) return Promise.reject(Errors.DEADLINE_EXCEEDED('the request deadline passed before it was queued', { state: 'queued' }));
    const p = new Pending(this.#cancel, records, signal);
    if (signal) signal.addEventListener('abort', p);
    if (wait <= MAX_TIMER_MS) {
      p.deadline = opts!.deadline!;
      this.#deadlines.add(p);
    }
    this.#queue.push(p);
    this.#queueRows += n;
    this.#pump(false);
    return p.promise;
  }

  /** Resolves once nothing is queued or running. */
  drain(): Promise<void> {
    if (this.#queueRows === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((res) => this.#drains.push(res));
  }

  /** Refuses new work with SHUTTING_DOWN, flushes the queue at once, resolves when drained. */
  close(): Promise<void> {
    this.#closed = true;
    this.#pump(true);
    return this.drain();
  }

  /** An end-of-turn flush is queued (maxDelayMs 0). */
  #turnEnd = false;
  readonly #endOfTurn = (): void => {
    this.#turnEnd = false;
    this.#pump(true);
  };

  readonly #flush = (): void => {
    this.#timer = undefined;
    this.#pump(true);
  };

  /** Takes a queued or running request out, rejecting it with `err`. */
  readonly #cancel = (p: Pending<R>, err: unknown): void => {
    if (p.state === DONE) return;
    if (p.state === QUEUED) this.#unqueue(p.records.length);
    settle(p, undefined, err);
    this.#checkDrain();
  };

  /** Dispatches what policy allows; `force` skips waiting for `maxDelayMs` or the end of the turn. */
  #pump(force: boolean): void {
    while (this.#inFlight < this.#maxConcurrent && this.#queueRows > 0) {
      if (!force && this.#queueRows < this.#maxBatchSize && !this.#closed) {
        if (this.#maxDelayMs > 0) this.#timer ??= setTimeout(this.#flush, this.#maxDelayMs);
        else if (!this.#turnEnd) {
          this.#turnEnd = true;
          queueMicrotask(this.#endOfTurn);
        }
        return;
      }
      this.#dispatch();
    }
  }

  #unqueue(rows: number): void {
    this.#queueRows -= rows;
    if (this.#queueRows > 0) return;
    this.#queue.length = 0; // only cancelled entries were left
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #dispatch(): void {
    // FIFO: never skip a request to fill a batch (a big one would starve), never split one.
    const q = this.#queue;
    const batch: Pending<R>[] = [];
    let rows = 0;
    let i = 0;
    while (i < q.length && rows < this.#maxBatchSize) {
      const p = q[i]!;
      if (p.state === QUEUED) {
        if (rows > 0 && rows + p.records.length > this.#maxBatchSize) break;
        p.state = RUNNING;
        batch.push(p);
        rows += p.records.length;
      }
      i++;
    }
    q.splice(0, i);
    this.#unqueue(rows);
    this.#inFlight++;
    void this.#execute(batch, rows);
  }

  async #execute(batch: Pending<R>[], rows: number): Promise<void> {
    let records = batch[0]!.records;
    if (batch.length > 1) {
      const merged = new Array<unknown>(rows);
      let k = 0;
      for (const p of batch) for (const r of p.records) merged[k++] = r;
      records = merged;
      this.#coalesced += batch.length;
    }
    try {
      const results = await this.#runOnce(records, batch.length);
      let off = 0;
      for (const p of batch) {
        const n = p.records.length;
        if (p.state === RUNNING) settle(p, batch.length === 1 ? results : results.slice(off, off + n), undefined);
        off += n;
      }
    } catch (e) {
      if (batch.length > 1 && isRequestError(e)) {
        // One request's bad feature failed the merged run: run each alone so only it fails,
        // with its own row numbers. Sequential, to keep `maxConcurrent` honest.
        for (const p of batch) {
          if (p.state !== RUNNING) continue;
          try {
            const r = await this.#runOnce(p.records, 1);
            if (p.state === RUNNING) settle(p, r, undefined);
          } catch (e2) {
            if (p.state === RUNNING) settle(p, undefined, e2);
          }
        }
      } else for (const p of batch) if (p.state === RUNNING) settle(p, undefined, e);
    } finally {
      this.#inFlight--;
      this.#pump(true);
      this.#checkDrain();
    }
  }

  async #runOnce(records: readonly unknown[], requests: number): Promise<R[]> {
    this.#batches++;
    this.#rows += records.length;
    const t0 = performance.now();
    const results = await this.#run(records as readonly I[]);
    if (!Array.isArray(results) || results.length !== records.length) {
      throw Errors.INFERENCE_FAILED(`the model returned ${Array.isArray(results) ? results.length : 'no'} results for ${records.length} records`);
    }
    try {
      this.#onBatch?.(records.length, performance.now() - t0, requests);
    } catch {
      // A metrics hook must never fail the requests it measures.
    }
    return results;
  }

  #checkDrain(): void {
    if (this.#queueRows !== 0 || this.#inFlight !== 0 || this.#drains.length === 0) return;
    for (const res of this.#drains.splice(0)) res();
  }
}
