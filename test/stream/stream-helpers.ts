/**
 * Helpers for the streaming tests: events from the breast-cancer fixture, a config file,
 * a collector that reads topics from the beginning, and `omniserve stream` processes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { loadKafka } from '../../runtimes/native/stream-kafka.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import type { PredictionResult } from '../../src/core/postprocess.ts';
import { createEngine } from '../../src/index.ts';
import { spawnProcess, type ManagedProcess } from '../support/process.ts';
import { ROOT, SERVE_HOSTS, type ServeHost } from '../support/serve-process.ts';

/** The client as `omniserve stream` loads it on this host (on Bun: the build for Bun). */
const Client = await loadKafka();

export const MODEL_PATH = join(ROOT, 'test/fixtures/models/breast-cancer.onnx');
/** The fixture's feature rows, without their `id` and `label` columns. */
export const ROWS: Record<string, number>[] = readFileSync(join(ROOT, 'test/fixtures/data/breast-cancer.jsonl'), 'utf8')
  .split('\n').filter(Boolean).map((l) => {
    const { id: _id, label: _label, ...features } = JSON.parse(l) as Record<string, number>;
    return features;
  });

/** Event `i`: key over 50 keys, `event_id` e-i, features of fixture row i mod 569. */
export const event = (i: number) => ({ event_id: `e-${i}`, seq: i, timestamp: `2024-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`, ...ROWS[i % ROWS.length] });
export const keyOf = (i: number) => `k-${i % 50}`;

/** One consumed record, decoded. */
export interface Got {
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** librdkafka warnings are noise here unless a test fails. */
export function quietKafka(brokers: string[]): KafkaJS.Kafka {
  const logger: KafkaJS.Logger = {
    debug: () => {}, info: () => {}, warn: () => {}, error: () => {},
    namespace: () => logger, setLogLevel: () => {},
  };
  return new Client.Kafka({ kafkaJS: { brokers, logLevel: Client.logLevel.NOTHING, logger } });
}

/** Produces `messages` to `topic` in chunks (one awaited send per chunk). */
export async function produce(kafka: KafkaJS.Kafka, topic: string, messages: { key: string; value: string }[]): Promise<void> {
  const producer = kafka.producer({ 'linger.ms': 5 });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, messages: messages.slice(i, i + 500) });
  } finally {
    await producer.disconnect();
  }
}

/** Reads `topics` from the beginning, continuously, into `got[topic]`. */
export async function collect(kafka: KafkaJS.Kafka, topics: string[], groupId: string) {
  const got: Record<string, Got[]> = Object.fromEntries(topics.map((t) => [t, []]));
  const consumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, autoCommit: false } });
  await consumer.connect();
  await consumer.subscribe({ topics });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(Array.isArray(v) ? v[0] : v);
      got[topic]!.push({ partition, offset: Number(message.offset), key: message.key?.toString() ?? null, value: message.value!, headers });
    },
  });
  return { got, stop: () => consumer.disconnect() };
}

/** Waits until `cond()` holds, or fails with `what` after `ms`. */
export async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(50);
  }
}

/** Writes a stream config for `topics` (prefix `name`) and returns its path. */
export function writeConfig(brokers: string, name: string, stream: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'omniserve-stream-'));
  const path = join(dir, 'stream.json');
  writeFileSync(path, JSON.stringify({
    stream: {
      brokers: brokers.split(','), groupId: `${name}-scorer`,
      inputTopic: `${name}-in`, outputTopic: `${name}-out`, deadLetterTopic: `${name}-dlq`,
      // A killed member must leave the group quickly, so its successor is not kept waiting.
      rdkafka: { 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500 },
      ...stream,
    },
    models: [{ path: MODEL_PATH }],
  }));
  return path;
}

/** The hosts `omniserve stream` runs on (Deno cannot load the Kafka client: docs/streaming.md). */
export const STREAM_HOSTS = ['node', 'bun'] as const satisfies readonly ServeHost['name'][];

/** Starts `omniserve stream --config path` (on Node unless `host` says) and waits for its streaming line. */
export async function startStream(
  configPath: string, timeoutMs = 60_000, host: ServeHost['name'] = 'node',
): Promise<{ proc: ManagedProcess; line: Record<string, unknown> }> {
  const { cmd, args } = SERVE_HOSTS.find((h) => h.name === host)!;
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env['NODE_TEST_CONTEXT'];
  delete env['OMNISERVE_KAFKA_BROKERS'];
  const proc = await spawnProcess(cmd, [...args, 'stream', '--config', configPath], {
    cwd: ROOT, env, name: `stream:${host}`,
  });
  try {
    const line = await proc.lines.waitFor((l) => l.includes('"streaming"'), timeoutMs);
    return { proc, line: JSON.parse(line) as Record<string, unknown> };
  } catch (e) {
    await proc.stop({ signal: 'SIGKILL' });
    throw new Error(`omniserve stream did not print its streaming line: ${(e as Error).message}\n${proc.outputTail()}`);
  }
}

/** A parsed output message. */
export interface Output {
  event_id: string;
  prediction: number;
  probability: number;
  label?: string;
  model_version: string;
  timestamp?: string;
  processed_at: string;
  latency_ms: number;
  source: { topic: string; partition: number; offset: number };
}

export const parse = (g: Got) => JSON.parse(g.value.toString()) as Output;

/** Outputs keyed like their input events (`keyOf`), 50 keys, each key's events in produced order. */
export function assertKeyedInOrder(got: readonly Got[], outs: readonly Output[], also?: (seq: number) => void): void {
  const perKey = new Map<string, number[]>();
  got.forEach((g, i) => {
    const seq = Number(outs[i]!.event_id.slice(2));
    also?.(seq);
    assert.equal(g.key, keyOf(seq));
    perKey.set(g.key!, [...(perKey.get(g.key!) ?? []), seq]);
  });
  assert.equal(perKey.size, 50);
  for (const [k, seqs] of perKey) assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `order of ${k}`);
}

/**
 * A sample of outputs (every 37th) against the same model run in this process: probability =
 * sigmoid(logit), the same prediction and model version; `also` checks more per output.
 */
export async function assertScoredLikeModel(outs: readonly Output[], also?: (o: Output, want: PredictionResult) => void): Promise<void> {
  const engine = createEngine(createNativeRuntime(), { backend: 'cpu' });
  try {
    const model = await engine.models.load({ source: MODEL_PATH });
    const sample = outs.filter((_, i) => i % 37 === 0);
    const want = await model.predict(sample.map((o) => ROWS[Number(o.event_id.slice(2)) % ROWS.length]!));
    sample.forEach((o, i) => {
      const logit = want[i]!.outputs['logit'] as number;
      assert.ok(Math.abs(o.probability - 1 / (1 + Math.exp(-logit))) < 1e-4, `${o.event_id}: ${o.probability} vs logit ${logit}`);
      assert.equal(o.prediction, want[i]!.prediction);
      assert.equal(o.model_version, model.version);
      also?.(o, want[i]!);
    });
  } finally {
    await engine.close();
  }
}

/** The poison kinds {@link poisonPayload} cycles through, every 100th event (offset 7). */
export const POISON_KINDS = ['INVALID_JSON', 'INVALID_FEATURE_TYPE', 'MISSING_FEATURE'] as const;

/** Event i, or every 100th (offset 7) a poison event of one of {@link POISON_KINDS}. */
export function poisonPayload(i: number): string {
  if (i % 100 !== 7) return JSON.stringify(event(i));
  const kind = POISON_KINDS[Math.floor(i / 100) % 3];
  if (kind === 'INVALID_JSON') return `{"event_id": "e-${i}", "mean_radius": oops`;
  if (kind === 'INVALID_FEATURE_TYPE') return JSON.stringify({ ...event(i), mean_radius: 'large' });
  const { worst_area: _, ...rest } = event(i) as Record<string, unknown>;
  return JSON.stringify(rest);
}

/**
 * The dead letters of `n` {@link poisonPayload} events read from `<name>-in` and
 * `<name>-dlq`: one per poison event, each the input's bytes and key, with the reason, its
 * code, and the source topic, partition and offset in headers.
 */
export function assertDeadLetters(got: Readonly<Record<string, Got[]>>, name: string, n: number): void {
  const where = new Map(got[`${name}-in`]!.map((g) => [g.value.toString(), g]));
  const dlq = got[`${name}-dlq`]!;
  assert.equal(dlq.length, n / 100);
  for (const d of dlq) {
    const src = where.get(d.value.toString());
    assert.ok(src, `dead letter is not an input's bytes: ${d.value}`);
    assert.equal(d.key, src.key);
    assert.equal(d.headers['omniserve-source-topic'], `${name}-in`);
    assert.equal(d.headers['omniserve-source-partition'], String(src.partition));
    assert.equal(d.headers['omniserve-source-offset'], String(src.offset));
    const i = Number(/e-(\d+)/.exec(d.value.toString())![1]);
    assert.equal(d.headers['omniserve-error-code'], POISON_KINDS[Math.floor(i / 100) % 3], JSON.stringify(d.headers));
    assert.ok((d.headers['omniserve-error'] ?? '').length > 5, JSON.stringify(d.headers));
  }
  assert.match(dlq.find((d) => d.headers['omniserve-error-code'] === 'MISSING_FEATURE')!.headers['omniserve-error']!, /worst_area/);
}
