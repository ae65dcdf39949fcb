/**
 * Scores fetched Kafka batches: decode, micro-batch through the model, encode outputs and
 * dead letters, in offset order. No Kafka client here: the host's runner fetches, produces
 * and commits, so this part runs (and is tested) anywhere.
 *
 * Every event is its own request to a {@link DynamicBatcher}: batches fetched from several
 * partitions at once merge into shared model runs of up to `batchSize` rows, and when one
 * bad record fails a run, the batcher re-runs request by request, so only that record
 * fails (and is dead-lettered) while its neighbours are scored.
 * @module
 */
import { DynamicBatcher } from '../core/batcher.ts';
import { isOmniserveError, messageOf } from '../errors.ts';
import type { Model } from '../core/model.ts';
import type { PredictionResult } from '../core/postprocess.ts';
import {
  decodeEvent, encodeDeadLetter, encodePrediction, poison,
  type InboundMessage, type OutboundMessage, type Poison, type StreamEvent,
} from './events.ts';

/** Options of {@link StreamProcessor}. */
export interface StreamProcessorOptions {
  /** Most rows in one model run. */
  readonly batchSize: number;
  /** How long a partial run waits for more rows. */
  readonly lingerMs: number;
  /** Partition batches processed at once (sizes the batcher's queue). */
  readonly concurrency: number;
  readonly keyField?: string;
}

/** What one fetched batch turned into, in input order. */
export interface ProcessedBatch {
  readonly outputs: OutboundMessage[];
  readonly deadLetters: OutboundMessage[];
  /** The offset to commit once everything above is acknowledged (last + 1). */
  readonly nextOffset: string;
}

/** Running totals, for logs and the stop line. */
export interface StreamCounts {
  scored: number;
  deadLettered: number;
  batches: number;
}

/** Scores batches of messages with one model. */
export class StreamProcessor {
  readonly counts: StreamCounts = { scored: 0, deadLettered: 0, batches: 0 };
  readonly #batcher: DynamicBatcher<PredictionResult>;

  constructor(readonly model: Model, readonly options: StreamProcessorOptions) {
    this.#batcher = new DynamicBatcher((records) => model.predict(records), {
      maxBatchSize: options.batchSize,
      maxDelayMs: options.lingerMs,
      // Every fetched event is queued at once: room for all partitions' batches, so the
      // batcher never answers OVERLOADED (backpressure is the fetch loop's job).
      maxQueueRows: options.batchSize * (options.concurrency + 1) * 2,
      maxConcurrent: 1,
    });
  }

  /**
   * Scores one partition's batch (messages in offset order). Rejects only for failures
   * that are not the message's fault (a broken session): the caller must then not commit.
   */
  async process(messages: readonly InboundMessage[], receivedAt = Date.now()): Promise<ProcessedBatch> {
    if (messages.length === 0) throw new RangeError('process() needs at least one message');
    const decoded = messages.map((m) => decodeEvent(m, this.options.keyField));
    const settled = await Promise.allSettled(decoded.map((d) =>
      d.kind === 'event' ? this.#batcher.submit([d.record]).then((r) => r[0]!) : Promise.resolve(undefined)));
    const outputs: OutboundMessage[] = [];
    const deadLetters: OutboundMessage[] = [];
    const now = Date.now();
    for (let i = 0; i < messages.length; i++) {
      const msg = messages[i]!;
      const d = decoded[i]!;
      const s = settled[i]!;
      let verdict: StreamEvent | Poison = d;
      if (s.status === 'rejected') {
        if (!isRecordError(s.reason)) throw s.reason;
        verdict = poison(s.reason.code, messageOf(s.reason));
      }
      if (verdict.kind === 'poison') {
        deadLetters.push(encodeDeadLetter(msg, verdict));
        continue;
      }
      const result = (s as PromiseFulfilledResult<PredictionResult>).value;
      outputs.push(encodePrediction(msg, verdict, { model: this.model.name, version: this.model.version, result, receivedAt }, now));
    }
    this.counts.scored += outputs.length;
    this.counts.deadLettered += deadLetters.length;
    this.counts.batches++;
    return { outputs, deadLetters, nextOffset: (BigInt(messages[messages.length - 1]!.offset) + 1n).toString() };
  }

  /** Finishes queued runs; further `process` calls fail. */
  close(): Promise<void> {
    return this.#batcher.close();
  }
}

/** Errors one record causes (missing or mistyped features: 4xx), as opposed to a broken model. */
function isRecordError(e: unknown): e is { code: string } & Error {
  return isOmniserveError(e) && e.status >= 400 && e.status < 500;
}
