/**
 * The config file of `omniserve stream`: a `stream` section (Kafka topics, group, batching)
 * plus the same `models` list and `backend` as the server's `omniserve.json`, so one model
 * entry can be copied between the two. Validated with valibot; every error names the path
 * of the bad field.
 * @module
 */
import * as v from 'valibot';
import { Errors } from '../errors.ts';
import { formatIssues } from '../core/model-config.ts';
import { ServerConfigSchema } from '../config/schema.ts';

const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const NonNegInt = v.pipe(v.number(), v.integer(), v.minValue(0));
const Name = v.pipe(v.string(), v.minLength(1));

/** librdkafka property values, passed through untouched (`"session.timeout.ms": 6000`). */
const RdkafkaProps = v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]));

const Stream = v.strictObject({
  /** Bootstrap servers, `host:port` each. */
  brokers: v.pipe(v.array(Name), v.minLength(1, 'at least one broker is needed')),
  groupId: Name,
  inputTopic: Name,
  outputTopic: Name,
  deadLetterTopic: Name,
  /** Which loaded model scores events (default: the first in `models`). */
  model: v.optional(Name),
  /** Most events per model run, and per fetched partition batch. */
  batchSize: v.optional(PositiveInt, 500),
  /** How long a partial micro-batch waits for company; also the producer's `linger.ms`. */
  lingerMs: v.optional(NonNegInt, 20),
  /** Partitions processed at once (each one in order, so per-key order holds). */
  concurrency: v.optional(PositiveInt, 4),
  /**
   * Backpressure: most events fetched and not yet acknowledged downstream. Past it the
   * input partitions pause; they resume under half of it. Default: `batchSize ×
   * concurrency × 4`.
   */
  maxInFlight: v.optional(PositiveInt),
  /** A Prometheus endpoint (`GET /metrics`) on this port; 0 picks a free one. Off when absent. */
  metrics: v.optional(v.strictObject({
    port: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
    host: v.optional(Name, '0.0.0.0'),
  })),
  /**
   * Feature-store enrichment: the hash `<prefix>:<event[keyField]>` of the top-level
   * `featureStore` joins each event's features (the event's own fields win).
   */
  enrich: v.optional(v.strictObject({ keyField: Name, prefix: v.optional(Name, 'user') })),
  /**
   * Exactly-once: each group of scored batches is produced in one Kafka transaction together
   * with its input offsets (read_committed consumers downstream see every event once).
   */
  exactlyOnce: v.optional(v.boolean(), false),
  /**
   * The producer's transactional.id (exactly-once only). Give each process a stable one of
   * its own (a pod name): a restarted process then fences its dead predecessor's open
   * transaction at once. Default: `omniserve-<groupId>-<host>-<pid>`, whose leftovers abort
   * only after `transaction.timeout.ms`.
   */
  transactionalId: v.optional(Name),
  /** Output key from this event field instead of the input message's key. */
  keyField: v.optional(Name),
  /**
   * Where a group with no committed offset starts. `earliest` (default): a new scoring
   * group scores what is already in the topic.
   */
  autoOffsetReset: v.optional(v.picklist(['earliest', 'latest']), 'earliest'),
  /** TLS to the brokers (`true`, or KafkaJS-style TLS options). */
  ssl: v.optional(v.union([v.boolean(), v.record(v.string(), v.unknown())])),
  /** KafkaJS-style SASL: `{mechanism, username, password}` (OMNISERVE_KAFKA_SASL_PASSWORD overrides the password). */
  sasl: v.optional(v.looseObject({ mechanism: Name, username: v.optional(v.string()), password: v.optional(v.string()) })),
  /**
   * How the group shares partitions when members join or leave. `eager` (librdkafka's
   * default range/round-robin): every member gives up all its partitions and gets a new
   * share. `cooperative` (cooperative-sticky, KIP-429): members keep the partitions that
   * stay theirs and go on scoring them; only the partitions that move are revoked.
   */
  rebalance: v.optional(v.picklist(['eager', 'cooperative']), 'eager'),
  /** Extra librdkafka properties for both consumer and producer. */
  rdkafka: v.optional(RdkafkaProps, {}),
});

/** The whole `omniserve stream` config file. */
export const StreamConfigSchema = v.strictObject({
  $schema: v.optional(v.string()),
  stream: Stream,
  backend: ServerConfigSchema.entries.backend,
  models: ServerConfigSchema.entries.models,
  /** Where `stream.enrich` looks features up (the server's `featureStore` section). */
  featureStore: ServerConfigSchema.entries.featureStore,
});

type ParsedStreamConfig = v.InferOutput<typeof StreamConfigSchema>;
/** A parsed config: defaults filled in, `maxInFlight` included. */
export type StreamConfig = Omit<ParsedStreamConfig, 'stream'> & { stream: StreamSection };
export type StreamSection = ParsedStreamConfig['stream'] & { maxInFlight: number };

/** Validates a parsed config file; INVALID_CONFIG lists every bad field by path. */
export function parseStreamConfig(input: unknown, where = 'stream config'): StreamConfig {
  const r = v.safeParse(StreamConfigSchema, input);
  if (r.success) {
    const s = r.output.stream;
    if (s.enrich && r.output.featureStore.kind === 'none') {
      throw Errors.INVALID_CONFIG(`${where}: stream.enrich needs a featureStore section`, { path: 'featureStore' });
    }
    return { ...r.output, stream: { ...s, maxInFlight: s.maxInFlight ?? s.batchSize * s.concurrency * 4 } };
  }
  const issues = formatIssues(r.issues);
  throw Errors.INVALID_CONFIG(`${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/** Environment overrides, so broker lists and secrets need not live in the file. */
export function applyStreamEnv(cfg: StreamConfig, env: Readonly<Record<string, string | undefined>>): StreamConfig {
  const out = structuredClone(cfg);
  const brokers = env['OMNISERVE_KAFKA_BROKERS'];
  if (brokers) out.stream.brokers = brokers.split(',').map((s) => s.trim()).filter(Boolean);
  const password = env['OMNISERVE_KAFKA_SASL_PASSWORD'];
  if (password && out.stream.sasl) out.stream.sasl.password = password;
  const fs = out.featureStore;
  if (fs.kind === 'redis' && env['REDIS_URL']) fs.url = env['REDIS_URL'];
  if (fs.kind === 'upstash') {
    fs.url = env['UPSTASH_REDIS_REST_URL'] ?? fs.url;
    fs.token = env['UPSTASH_REDIS_REST_TOKEN'] ?? fs.token;
  }
  return out;
}
