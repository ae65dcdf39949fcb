/**
 * Kafka messages in and out, free of any Kafka client: decoding an input event into a
 * feature record (or a reason it is poison), and encoding predictions and dead letters.
 * Web APIs only, so any host's client can feed it.
 * @module
 */
import type { FeatureRecord } from '../core/features.ts';
import type { PredictionResult } from '../core/postprocess.ts';

/** One consumed message, as any Kafka client can describe it. */
export interface InboundMessage {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are 64-bit: kept as the client's decimal string. */
  readonly offset: string;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
}

/** One message to produce. */
export interface OutboundMessage {
  readonly key: Uint8Array | string | null;
  readonly value: Uint8Array | string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A decoded event, ready to score. */
export interface StreamEvent {
  readonly kind: 'event';
  readonly record: FeatureRecord;
  /** The whole decoded event (the record may be its `features` object). */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly eventId: unknown;
  readonly timestamp: unknown;
  readonly key: Uint8Array | string | null;
}

/** A message that can never be scored: it goes to the dead-letter topic. */
export interface Poison {
  readonly kind: 'poison';
  readonly code: string;
  readonly reason: string;
}

/** Header names on dead letters (documented contract: keep them stable). */
export const DLQ_HEADERS = {
  error: 'omniserve-error',
  code: 'omniserve-error-code',
  topic: 'omniserve-source-topic',
  partition: 'omniserve-source-partition',
  offset: 'omniserve-source-offset',
} as const;

// fatal: a message that is not UTF-8 is poison, not something to score garbled.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns a message into a feature record: the event's own fields, or its `features`
 * object when it has one. `keyField` takes the output key from the event instead of
 * the message key.
 */
export function decodeEvent(msg: InboundMessage, keyField?: string): StreamEvent | Poison {
  if (msg.value === null) return poison('EMPTY_MESSAGE', 'the message has no value (a tombstone?)');
  let event: unknown;
  try {
    event = JSON.parse(utf8.decode(msg.value));
  } catch (e) {
    return poison('INVALID_JSON', `the message is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(event)) return poison('NOT_AN_OBJECT', `expected a JSON object, got ${describe(event)}`);
  const nested = event['features'];
  const record = isObject(nested) ? nested : event;
  let key: Uint8Array | string | null = msg.key;
  if (keyField !== undefined) {
    const k = event[keyField];
    if (k === undefined || k === null || typeof k === 'object') {
      return poison('MISSING_KEY', `keyField "${keyField}" is ${describe(k)}; expected a string or number`);
    }
    key = String(k);
  }
  return { kind: 'event', record, fields: event, eventId: event['event_id'] ?? null, timestamp: event['timestamp'], key };
}

/** What scoring one event says about it, for {@link encodePrediction}. */
export interface Scored {
  readonly model: string;
  readonly version: string;
  readonly result: PredictionResult;
  /** When the batch holding the event was fetched (epoch ms), for `latency_ms`. */
  readonly receivedAt: number;
}

/** The output message: keyed by the input key, carrying the input's `event_id`. */
export function encodePrediction(msg: InboundMessage, event: StreamEvent, s: Scored, now = Date.now()): OutboundMessage {
  const { result } = s;
  // Built as text, field by field in the documented order: the same JSON as stringifying
  // the object, without building the object (this runs once per event).
  let out = `{"event_id":${json(event.eventId)},"prediction":${json(result.prediction ?? null)},` +
    `"probability":${json(result.probability ?? null)}`;
  if (result.label !== undefined) out += `,"label":${json(result.label)}`;
  if (result.prediction === undefined) out += `,"outputs":${JSON.stringify(result.outputs)}`;
  out += `,"model":${modelJson(s.model)},"model_version":${versionJson(s.version)}`;
  if (event.timestamp !== undefined) out += `,"timestamp":${json(event.timestamp)}`;
  out += `,"processed_at":"${isoOf(now)}","latency_ms":${now - s.receivedAt}`;
  // Where it came from: lets anyone audit at-least-once (every offset has an output).
  out += `,"source":{"topic":${topicJson(msg.topic)},"partition":${msg.partition},"offset":${Number(msg.offset)}}}`;
  return { key: event.key, value: out };
}

/** JSON of a value; numbers (most of them) without a JSON.stringify call. */
function json(x: unknown): string {
  if (typeof x === 'number') return Number.isFinite(x) ? String(x) : 'null';
  return JSON.stringify(x);
}

// Every output of a stream names the same model and (per batch) the same topic: their JSON
// is made once, not per event (JSON.stringify calls were ~10 % of an event's CPU).
const lastJson = (): ((s: string) => string) => {
  let last: string | undefined;
  let json = '';
  return (s) => (s === last ? json : (json = JSON.stringify((last = s))));
};
const modelJson = lastJson();
const versionJson = lastJson();
const topicJson = lastJson();

// A batch's outputs share one `now`: format it once.
let lastNow = NaN;
let lastIso = '';
function isoOf(now: number): string {
  if (now !== lastNow) {
    lastNow = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** The dead letter: the original bytes and key, the reason in headers. */
export function encodeDeadLetter(msg: InboundMessage, p: Poison): OutboundMessage {
  return {
    key: msg.key,
    value: msg.value ?? new Uint8Array(0),
    headers: {
      // Headers are bytes on the wire but people read them: keep the reason one line.
      [DLQ_HEADERS.error]: p.reason.replace(/[\r\n]+/g, ' ').slice(0, 1000),
      [DLQ_HEADERS.code]: p.code,
      [DLQ_HEADERS.topic]: msg.topic,
      [DLQ_HEADERS.partition]: String(msg.partition),
      [DLQ_HEADERS.offset]: msg.offset,
    },
  };
}

/** A poison verdict. */
export function poison(code: string, reason: string): Poison {
  return { kind: 'poison', code, reason };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (x === undefined) return 'missing';
  return `a ${typeof x}`;
}
