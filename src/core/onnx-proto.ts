/**
 * The few protobuf primitives omniserve's ONNX readers need (onnx-zipmap.ts, onnx-float16.ts):
 * a message's fields with their bounds, varints, and length-delimited fields written back. No
 * ONNX or protobuf library runs on every host, and only a few fields are ever read.
 * @module
 */

/** One field of a message. */
export interface Field {
  readonly field: number;
  readonly wire: number;
  /** Where the key starts. */
  readonly at: number;
  /** The value: for length-delimited fields, the payload's bounds; for varints, the number. */
  readonly start: number;
  readonly end: number;
  readonly varint?: bigint;
}

/** The varint at `pos`, and the offset after it; throws on a truncated or overlong one. */
export function varint(buf: Uint8Array, pos: number, end: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new Error('truncated varint');
    const b = buf[pos++]!;
    v |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [v, pos];
    shift += 7n;
  }
  throw new Error('varint longer than 10 bytes');
}

/** The fields of one message, in order; throws on bytes that are not a protobuf message. */
export function fields(buf: Uint8Array, start: number, end: number): Field[] {
  const out: Field[] = [];
  let pos = start;
  while (pos < end) {
    const at = pos;
    const [key, p] = varint(buf, pos, end);
    pos = p;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new Error('field number 0');
    if (wire === 0) {
      const [v, q] = varint(buf, pos, end);
      out.push({ field, wire, at, start: pos, end: q, varint: v });
      pos = q;
    } else if (wire === 2) {
      const [len, q] = varint(buf, pos, end);
      const e = q + Number(len);
      if (len > BigInt(end - q)) throw new Error('length past the end');
      out.push({ field, wire, at, start: q, end: e });
      pos = e;
    } else if (wire === 1 || wire === 5) {
      const e = pos + (wire === 1 ? 8 : 4);
      if (e > end) throw new Error('truncated fixed field');
      out.push({ field, wire, at, start: pos, end: e });
      pos = e;
    } else {
      throw new Error(`wire type ${wire}`);
    }
  }
  return out;
}

const utf8 = new TextDecoder();
/** A length-delimited field as UTF-8 text. */
export const text = (buf: Uint8Array, f: Field) => utf8.decode(buf.subarray(f.start, f.end));
/** A varint as a signed 64-bit number. */
export const signed = (v: bigint) => Number(BigInt.asIntN(64, v));

/** ModelProto.graph. */
export const MODEL_GRAPH = 7;

/** The ModelProto's graph field, or undefined; throws on bytes that are not a protobuf message. */
export function graphOf(model: Uint8Array): Field | undefined {
  return fields(model, 0, model.byteLength).find((f) => f.field === MODEL_GRAPH && f.wire === 2);
}

/** `n` as a protobuf varint. */
export function encodeVarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** A length-delimited field: key, length, payload. */
export function lenField(field: number, payload: readonly number[] | Uint8Array): number[] {
  return [...encodeVarint((field << 3) | 2), ...encodeVarint(payload.length), ...payload];
}

