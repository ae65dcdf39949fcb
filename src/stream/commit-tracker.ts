/**
 * Which offsets may be committed, when batches are scored and produced out of step with
 * their fetching. The runner hands every fetched partition batch to the pipeline without
 * waiting for it (so the next batch of the partition is scored while the previous one's
 * outputs are in flight to the broker); this tracker remembers each partition's batches in
 * fetch order and lets a partition's commit point move only over a contiguous run of
 * batches whose outputs are all acknowledged. A batch that fails, or one of a revoked
 * partition, is never committed past.
 *
 * It also counts the events in flight (fetched, not yet acknowledged), which is what
 * backpressure bounds. Client-free, Web-API-only.
 * @module
 */

/** One fetched partition batch, from hand-off to acknowledgement. */
export interface TrackedBatch {
  readonly topic: string;
  readonly partition: number;
  /** The offset to commit once this batch and all before it are done (last + 1). */
  readonly nextOffset: string;
  readonly events: number;
  done: boolean;
}

/** A commit to make: the partitions whose commit point moved. */
export interface CommitPoint {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Tracks in-flight batches per partition and the commit points they allow. */
export class CommitTracker {
  /** Per partition: batches in fetch order, oldest first. */
  readonly #queues = new Map<string, TrackedBatch[]>();
  /** Per partition: the point not yet handed to `takeCommits`. */
  readonly #ready = new Map<string, CommitPoint>();
  #inFlight = 0;

  /** Events fetched and not yet acknowledged (or dropped). */
  get inFlight(): number { return this.#inFlight; }

  /** Batches not yet done, over all partitions. */
  get pendingBatches(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  /** Registers a batch just fetched; call in fetch order per partition. */
  begin(topic: string, partition: number, nextOffset: string, events: number): TrackedBatch {
    const b: TrackedBatch = { topic, partition, nextOffset, events, done: false };
    const k = keyOf(topic, partition);
    let q = this.#queues.get(k);
    if (q === undefined) this.#queues.set(k, (q = []));
    q.push(b);
    this.#inFlight += events;
    return b;
  }

  /**
   * Marks a batch's outputs acknowledged. Returns true when its partition's commit point
   * moved (the batch was at the head, or completed the run up to one that was).
   */
  done(b: TrackedBatch): boolean {
    if (b.done) return false;
    b.done = true;
    const k = keyOf(b.topic, b.partition);
    const q = this.#queues.get(k);
    // Dropped (revoked) meanwhile: already uncounted, nothing to commit for it here.
    if (q === undefined || !q.includes(b)) return false;
    this.#inFlight -= b.events;
    let moved: TrackedBatch | undefined;
    while (q.length > 0 && q[0]!.done) moved = q.shift();
    if (q.length === 0) this.#queues.delete(k);
    if (moved === undefined) return false;
    this.#ready.set(k, { topic: b.topic, partition: b.partition, offset: moved.nextOffset });
    return true;
  }

  /** True when some partition's commit point moved and was not taken yet. */
  get hasCommits(): boolean { return this.#ready.size > 0; }

  /** The commit points that moved since the last call (at most one per partition). */
  takeCommits(): CommitPoint[] {
    if (this.#ready.size === 0) return [];
    const out = [...this.#ready.values()];
    this.#ready.clear();
    return out;
  }

  /** Puts back commit points whose commit failed, unless a newer point arrived meanwhile. */
  restore(points: readonly CommitPoint[]): void {
    for (const p of points) {
      const k = keyOf(p.topic, p.partition);
      if (!this.#ready.has(k)) this.#ready.set(k, p);
    }
  }

  /** Unfinished batches of these partitions (empty when none). */
  pendingOf(partitions: readonly { topic: string; partition: number }[]): TrackedBatch[] {
    return partitions.flatMap((p) => this.#queues.get(keyOf(p.topic, p.partition)) ?? []);
  }

  /**
   * Forgets partitions (revoked, or lost): their unfinished batches no longer count as in
   * flight, and no commit point of theirs is handed out any more.
   */
  drop(partitions: readonly { topic: string; partition: number }[]): void {
    for (const p of partitions) {
      const k = keyOf(p.topic, p.partition);
      for (const b of this.#queues.get(k) ?? []) if (!b.done) this.#inFlight -= b.events;
      this.#queues.delete(k);
      this.#ready.delete(k);
    }
  }
}
