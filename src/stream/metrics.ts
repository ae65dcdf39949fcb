/**
 * The metrics of `omniserve stream`, on omniserve's own registry (src/metrics), all
 * prefixed `omniserve_stream_`. Events/s in and out are `rate()` of the counters; consumer
 * lag per partition and the in-flight count are read at scrape time.
 * @module
 */
import type { Counter, Gauge, Histogram, MetricsRegistry } from '../metrics/registry.ts';
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_SECONDS } from '../metrics/serving-metrics.ts';

/** Read at scrape time. */
export interface StreamMetricsSources {
  /** Consumer lag per assigned partition: `[topic, partition, lag]`. */
  readonly lag?: () => Iterable<readonly [topic: string, partition: number, lag: number]>;
  /** Events fetched and not yet acknowledged downstream. */
  readonly inFlight?: () => number;
  /** 1 while fetching is paused for backpressure. */
  readonly paused?: () => number;
}

/** The handles the runner and the processor update. */
export interface StreamMetrics {
  /** `omniserve_stream_events_consumed_total{topic}`: events fetched from the input topic. */
  readonly consumed: Counter<'topic'>;
  /** `omniserve_stream_events_produced_total{topic, kind}`: acknowledged outputs (`kind` output | dead_letter). */
  readonly produced: Counter<'topic' | 'kind'>;
  /** `omniserve_stream_dead_letters_total{code}`: poison events by reason code. */
  readonly deadLetters: Counter<'code'>;
  /** `omniserve_stream_errors_total{kind}`: `produce`, `commit`, `fatal`, `client`. */
  readonly errors: Counter<'kind'>;
  /** `omniserve_stream_commits_total`: offset commits acknowledged by the group coordinator. */
  readonly commits: Counter;
  /** `omniserve_stream_fetch_batch_size_events`: events per fetched partition batch. */
  readonly fetchBatchSize: Histogram;
  /** `omniserve_stream_inference_batch_size_rows`: rows per model run. */
  readonly inferenceBatchSize: Histogram;
  /** `omniserve_stream_inference_duration_seconds`: one model run. */
  readonly inferenceLatency: Histogram;
  /** `omniserve_stream_processing_duration_seconds`: fetch → every output of the batch acknowledged. */
  readonly processingLatency: Histogram;
  /** `omniserve_stream_backpressure_pauses_total`: times fetching paused for backpressure. */
  readonly pauses: Counter;
  /** `omniserve_stream_rebalances_total{kind}`: `assign` or `revoke`. */
  readonly rebalances: Counter<'kind'>;
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly inFlight: Gauge;
  readonly paused: Gauge;
  /** Points the scrape-time gauges at their live state. */
  setSources(s: StreamMetricsSources): void;
}

/** Registers the stream metrics on `registry`. */
export function createStreamMetrics(registry: MetricsRegistry): StreamMetrics {
  let sources: StreamMetricsSources = {};
  const m: StreamMetrics = {
    consumed: registry.counter({ name: 'omniserve_stream_events_consumed_total', help: 'Events fetched from the input topic.', labelNames: ['topic'] }),
    produced: registry.counter({
      name: 'omniserve_stream_events_produced_total', help: 'Messages produced and acknowledged: predictions (kind="output") and dead letters (kind="dead_letter").',
      labelNames: ['topic', 'kind'],
    }),
    deadLetters: registry.counter({ name: 'omniserve_stream_dead_letters_total', help: 'Poison events sent to the dead-letter topic, by reason code.', labelNames: ['code'] }),
    errors: registry.counter({ name: 'omniserve_stream_errors_total', help: 'Failures: produce, commit, client (librdkafka) and fatal (the stream stopped).', labelNames: ['kind'] }),
    commits: registry.counter({ name: 'omniserve_stream_commits_total', help: 'Offset commits acknowledged by the group coordinator.' }),
    fetchBatchSize: registry.histogram({ name: 'omniserve_stream_fetch_batch_size_events', help: 'Events per fetched partition batch.', buckets: BATCH_SIZE_BUCKETS }),
    inferenceBatchSize: registry.histogram({ name: 'omniserve_stream_inference_batch_size_rows', help: 'Rows per model run.', buckets: BATCH_SIZE_BUCKETS }),
    inferenceLatency: registry.histogram({ name: 'omniserve_stream_inference_duration_seconds', help: 'Duration of one model run.', buckets: LATENCY_BUCKETS_SECONDS }),
    processingLatency: registry.histogram({
      name: 'omniserve_stream_processing_duration_seconds', help: 'From fetching a batch to every output of it acknowledged by the broker.', buckets: LATENCY_BUCKETS_SECONDS,
    }),
    pauses: registry.counter({ name: 'omniserve_stream_backpressure_pauses_total', help: 'Times fetching was paused because too many events were in flight.' }),
    rebalances: registry.counter({ name: 'omniserve_stream_rebalances_total', help: 'Consumer group rebalances seen, by kind (assign, revoke).', labelNames: ['kind'] }),
    lag: registry.gauge({
      name: 'omniserve_stream_consumer_lag_events', help: 'Events in each assigned input partition not yet consumed (librdkafka statistics).',
      labelNames: ['topic', 'partition'],
      collect: () => [...(sources.lag?.() ?? [])].map(([topic, partition, lag]) => [{ topic, partition }, lag] as const),
    }),
    inFlight: registry.gauge({ name: 'omniserve_stream_in_flight_events', help: 'Events fetched and not yet acknowledged downstream.', collect: () => sources.inFlight?.() ?? 0 }),
    paused: registry.gauge({ name: 'omniserve_stream_paused', help: '1 while fetching is paused for backpressure.', collect: () => sources.paused?.() ?? 0 }),
    setSources(s) { sources = s; },
  };
  return m;
}
