/**
 * The Kafka-free parts of streaming: config validation, event decoding, output and
 * dead-letter encoding.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyStreamEnv, parseStreamConfig } from '../../src/stream/config.ts';
import { decodeEvent, encodeDeadLetter, encodePrediction, type InboundMessage } from '../../src/stream/events.ts';
import { isOmniserveError } from '../../src/errors.ts';

const enc = new TextEncoder();
const msg = (value: string | Uint8Array | null, key: string | null = 'k1'): InboundMessage => ({
  topic: 'in', partition: 2, offset: '41', key: key === null ? null : enc.encode(key),
  value: typeof value === 'string' ? enc.encode(value) : value,
});
const base = { brokers: ['127.0.0.1:9092'], groupId: 'g', inputTopic: 'in', outputTopic: 'out', deadLetterTopic: 'dlq' };

describe('stream config', () => {
  test('defaults, and the server model entry shape', () => {
    const cfg = parseStreamConfig({ stream: base, models: [{ path: 'm.onnx', threads: 2 }] });
    assert.equal(cfg.stream.batchSize, 500);
    assert.equal(cfg.stream.lingerMs, 20);
    assert.equal(cfg.stream.autoOffsetReset, 'earliest');
    assert.equal(cfg.stream.rebalance, 'eager');
    assert.equal(parseStreamConfig({ stream: { ...base, rebalance: 'cooperative' }, models: [{ path: 'm.onnx' }] }).stream.rebalance, 'cooperative');
    assert.equal(cfg.models[0]!.threads, 2);
    assert.equal(cfg.backend, 'auto');
  });

  test('errors name the path of each bad field', () => {
    try {
      parseStreamConfig({ stream: { ...base, batchSize: 0, inputTopic: '', rebalance: 'sticky' }, models: [] }, 'x.json');
      assert.fail('no error');
    } catch (e) {
      assert.ok(isOmniserveError(e, 'INVALID_CONFIG'));
      assert.match(e.message, /stream\.batchSize/);
      assert.match(e.message, /stream\.inputTopic/);
      assert.match(e.message, /stream\.rebalance/);
      assert.match(e.message, /models: at least one model/);
    }
  });

  test('environment overrides brokers and the SASL password', () => {
    const cfg = parseStreamConfig({ stream: { ...base, sasl: { mechanism: 'plain', username: 'u', password: 'file' } }, models: [{ path: 'm.onnx' }] });
    const out = applyStreamEnv(cfg, { OMNISERVE_KAFKA_BROKERS: 'a:1, b:2', OMNISERVE_KAFKA_SASL_PASSWORD: 'env' });
    assert.deepEqual(out.stream.brokers, ['a:1', 'b:2']);
    assert.equal(out.stream.sasl!.password, 'env');
    assert.equal(cfg.stream.sasl!.password, 'file');
  });

  test('backpressure bound, metrics listener and enrichment settings', () => {
    const cfg = parseStreamConfig({ stream: { ...base, batchSize: 100, concurrency: 2 }, models: [{ path: 'm.onnx' }] });
    assert.equal(cfg.stream.maxInFlight, 800, 'default: batchSize × concurrency × 4');
    assert.equal(cfg.stream.metrics, undefined);
    const full = parseStreamConfig({
      stream: { ...base, maxInFlight: 50, metrics: { port: 0 }, enrich: { keyField: 'user_id' } },
      featureStore: { kind: 'redis', url: 'redis://x' }, models: [{ path: 'm.onnx', workers: 2 }],
    });
    assert.equal(full.stream.maxInFlight, 50);
    assert.deepEqual(full.stream.metrics, { port: 0, host: '0.0.0.0' });
    assert.deepEqual(full.stream.enrich, { keyField: 'user_id', prefix: 'user' });
    assert.equal(full.models[0]!.workers, 2);
    assert.equal(applyStreamEnv(full, { REDIS_URL: 'redis://env' }).featureStore.kind === 'redis' &&
      (applyStreamEnv(full, { REDIS_URL: 'redis://env' }).featureStore as { url?: string }).url, 'redis://env');
    assert.throws(() => parseStreamConfig({ stream: { ...base, enrich: { keyField: 'user_id' } }, models: [{ path: 'm.onnx' }] }),
      (e: unknown) => isOmniserveError(e) && e.code === 'INVALID_CONFIG' && /featureStore/.test(e.message));
    assert.throws(() => parseStreamConfig({ stream: { ...base, metrics: { port: 70000 } }, models: [{ path: 'm.onnx' }] }),
      (e: unknown) => isOmniserveError(e) && /metrics\.port/.test(e.message));
  });
});

describe('stream events', () => {
  test('poison: not JSON, not UTF-8, not an object, no value, no key field', () => {
    assert.equal((decodeEvent(msg('{oops')) as { code: string }).code, 'INVALID_JSON');
    assert.equal((decodeEvent(msg(new Uint8Array([0x7b, 0xff, 0x7d]))) as { code: string }).code, 'INVALID_JSON');
    assert.equal((decodeEvent(msg('[1,2]')) as { code: string }).code, 'NOT_AN_OBJECT');
    assert.equal((decodeEvent(msg(null)) as { code: string }).code, 'EMPTY_MESSAGE');
    assert.equal((decodeEvent(msg('{"a":1}'), 'user') as { code: string }).code, 'MISSING_KEY');
  });

  test('features: the event itself, or its features object; keyField picks the key', () => {
    const flat = decodeEvent(msg('{"event_id":"e1","a":1}'));
    assert.equal(flat.kind, 'event');
    if (flat.kind === 'event') assert.deepEqual(flat.record, { event_id: 'e1', a: 1 });
    const nested = decodeEvent(msg('{"event_id":"e2","user":7,"features":{"a":2}}'), 'user');
    assert.ok(nested.kind === 'event');
    assert.deepEqual(nested.record, { a: 2 });
    assert.equal(nested.key, '7');
    assert.equal(nested.eventId, 'e2');
  });

  test('output carries event_id, timestamp and source; dead letter carries the reason headers', () => {
    const m = msg('{"event_id":"e3","timestamp":"2024-01-01T00:00:00Z","a":1}');
    const ev = decodeEvent(m);
    assert.ok(ev.kind === 'event');
    const out = encodePrediction(m, ev, { model: 'bc', version: '1', receivedAt: 1_000, result: { prediction: 1, probability: 0.9, label: 'yes', outputs: {} } }, 1_005);
    assert.deepEqual(out.key, enc.encode('k1'));
    assert.deepEqual(JSON.parse(out.value as string), {
      event_id: 'e3', prediction: 1, probability: 0.9, label: 'yes', model: 'bc', model_version: '1',
      timestamp: '2024-01-01T00:00:00Z', processed_at: new Date(1_005).toISOString(), latency_ms: 5,
      source: { topic: 'in', partition: 2, offset: 41 },
    });
    const dl = encodeDeadLetter(m, { kind: 'poison', code: 'X', reason: 'bad\nthing' });
    assert.deepEqual(dl.headers, {
      'omniserve-error': 'bad thing', 'omniserve-error-code': 'X',
      'omniserve-source-topic': 'in', 'omniserve-source-partition': '2', 'omniserve-source-offset': '41',
    });
    assert.equal(dl.value, m.value);
  });
});
