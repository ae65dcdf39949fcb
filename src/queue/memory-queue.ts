/**
 * The in-memory job queue: the embedded default, for one server with its in-process worker.
 * Same semantics as the Redis driver (idle jobs are reclaimed, a delivery limit dead-letters,
 * records expire), but everything is lost with the process. Web-API-only.
 * @module
 */
import {
  deliveryLimitError, isFinal, newRequestId, QUEUE_DEFAULTS,
  type ClaimedJob, type ClaimOptions, type ClaimResult, type Finish, type JobError, type JobQueue,
  type JobRecord, type NewJob, type QueueSettings, type QueueStats,
} from './types.ts';

interface Entry { readonly id: string; readonly token: string; readonly enqueuedAt: number }
interface Held extends Entry { since: number }

/** The memory queue, with its dead letters visible for tests and admin use. */
export interface MemoryJobQueue extends JobQueue {
  readonly kind: 'memory';
  /** Ids of jobs failed by the delivery limit, oldest first (the last 1,000). */
  readonly deadLetters: readonly string[];
}

/** Creates an in-memory queue. `now` is injectable so tests can move time. */
export function createMemoryQueue(settings: QueueSettings & { now?: () => number } = {}): MemoryJobQueue {
  const ttlMs = (settings.ttlSeconds ?? QUEUE_DEFAULTS.ttlSeconds) * 1000;
  const idleMs = settings.claimIdleMs ?? QUEUE_DEFAULTS.claimIdleMs;
  const maxDeliveries = settings.maxDeliveries ?? QUEUE_DEFAULTS.maxDeliveries;
  const now = settings.now ?? Date.now;
  const records = new Map<string, { rec: JobRecord; expiresAt: number }>();
  const idem = new Map<string, { id: string; expiresAt: number }>();
  const ready: Entry[] = [];
  const held = new Map<string, Held>();
  const dead: string[] = [];
  const waiters = new Set<() => void>();
  let seq = 0;
  let lastSweep = 0;

  const put = (rec: JobRecord) => records.set(rec.request_id, { rec, expiresAt: now() + ttlMs });
  const read = (id: string): JobRecord | undefined => {
    const r = records.get(id);
    if (!r) return undefined;
    if (r.expiresAt <= now()) {
      records.delete(id);
      return undefined;
    }
    return r.rec;
  };
  const enqueue = (id: string) => {
    ready.push({ id, token: String(++seq), enqueuedAt: now() });
    for (const w of waiters) w();
  };
  const sweep = () => {
    const t = now();
    if (t - lastSweep < 1_000) return;
    lastSweep = t;
    for (const [id, r] of records) if (r.expiresAt <= t) records.delete(id);
    for (const [k, v] of idem) if (v.expiresAt <= t) idem.delete(k);
  };
  const stamp = () => new Date(now()).toISOString();

  /** Marks a delivered entry as started, or settles it when it must not run. */
  const start = (e: Entry, out: { jobs: ClaimedJob[]; dead: JobRecord[] }) => {
    const rec = read(e.id);
    if (!rec || isFinal(rec.status)) {
      // Expired, or finished by another worker that was slow to ack: nothing to run.
      held.delete(e.token);
      return;
    }
    if (rec.attempts >= maxDeliveries) {
      held.delete(e.token);
      const failed: JobRecord = { ...rec, status: 'failed', error: deliveryLimitError(rec.attempts), updated_at: stamp() };
      put(failed);
      dead.push(rec.request_id);
      if (dead.length > 1_000) dead.shift();
      out.dead.push(failed);
      return;
    }
    const job: JobRecord = { ...rec, status: 'processing', attempts: rec.attempts + 1, updated_at: stamp() };
    put(job);
    out.jobs.push({ job, token: e.token });
  };

  const finish = (c: ClaimedJob, change: Partial<JobRecord>): Finish => {
    held.delete(c.token);
    const rec = read(c.job.request_id);
    if (!rec) return { job: { ...c.job, ...change }, stored: false };
    if (isFinal(rec.status)) return { job: rec, stored: false };
    const job: JobRecord = { ...rec, ...change, updated_at: stamp() };
    put(job);
    return { job, stored: true };
  };

  return {
    kind: 'memory',
    maxDeliveries,
    get deadLetters() {
      return dead;
    },
    async submit(job: NewJob, opts = {}) {
      sweep();
      const key = opts.idempotencyKey;
      if (key !== undefined) {
        const prior = idem.get(key);
        if (prior && prior.expiresAt > now()) return { request_id: prior.id, duplicate: true };
      }
      const id = newRequestId();
      const t = stamp();
      put({
        request_id: id, model: job.model, ...(job.version !== undefined ? { version: job.version } : {}),
        status: 'pending', request: job.request, attempts: 0, created_at: t, updated_at: t,
        ...(job.callback_url !== undefined ? { callback_url: job.callback_url } : {}),
      });
      if (key !== undefined) idem.set(key, { id, expiresAt: now() + ttlMs });
      enqueue(id);
      return { request_id: id, duplicate: false };
    },
    async get(id) {
      return read(id);
    },
    async claim(consumer, max, opts: ClaimOptions = {}): Promise<ClaimResult> {
      sweep();
      const out = { jobs: [] as ClaimedJob[], dead: [] as JobRecord[] };
      let reclaimed = 0;
      const t = now();
      for (const h of held.values()) {
        if (out.jobs.length >= max) break;
        if (t - h.since < idleMs) continue;
        h.since = t;
        reclaimed++;
        start(h, out);
      }
      if (ready.length === 0 && out.jobs.length === 0 && out.dead.length === 0) await waitForWork(opts);
      while (out.jobs.length < max && ready.length > 0) {
        const e = ready.shift()!;
        held.set(e.token, { ...e, since: now() });
        start(e, out);
      }
      void consumer;
      return { ...out, reclaimed };
    },
    async complete(c, result) {
      return finish(c, { status: 'completed', result, error: undefined });
    },
    async fail(c, error: JobError, { final }) {
      if (final) return finish(c, { status: 'failed', error });
      const r = finish(c, { status: 'pending', error });
      if (r.stored) enqueue(c.job.request_id);
      return r;
    },
    async stats(): Promise<QueueStats> {
      let oldest = Infinity;
      for (const e of ready) oldest = Math.min(oldest, e.enqueuedAt);
      for (const h of held.values()) oldest = Math.min(oldest, h.enqueuedAt);
      const depth = ready.length + held.size;
      return { depth, oldestAgeMs: depth ? Math.max(0, now() - oldest) : 0 };
    },
    async close() {
      for (const w of waiters) w();
    },
  };

  function waitForWork(opts: ClaimOptions): Promise<void> {
    const blockMs = opts.blockMs ?? 1_000;
    if (blockMs <= 0 || opts.signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, blockMs);
      waiters.add(done);
      opts.signal?.addEventListener('abort', done);
    });
  }
}
