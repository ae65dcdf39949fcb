/**
 * Typed arrays across Deno's `node:worker_threads` ports. Deno 2.9's port walks every
 * received message for MessagePorts (`patchMessagePortIfFound`) and visits each element of
 * a typed array as a property: a model's 151 MB of bytes fails with "RangeError: Invalid
 * array length" in the worker, and a 64×1024 float tensor costs 65,536 property visits per
 * message. An ArrayBuffer is not walked, so on Deno `nodeEndpoint` sends each typed array
 * as its buffer plus its type and length, and rebuilds it on the other side. Plain objects
 * and arrays are walked (comlink's messages are small trees); anything else passes as is.
 * @module
 */

const MARK = '__omniserveTypedArray';

interface Packed {
  readonly [MARK]: string;
  readonly buffer: ArrayBuffer;
  readonly length: number;
}

type ViewCtor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;

const isPlain = (v: object): boolean => {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
};

/** `message` with every typed array in its plain objects and arrays replaced by a packed buffer. */
export function packViews(message: unknown): unknown {
  if (typeof message !== 'object' || message === null) return message;
  if (ArrayBuffer.isView(message)) {
    if (message instanceof DataView) return message;
    const v = message as ArrayBufferView & { length: number };
    // A view of part of a buffer sends only its bytes; a whole buffer goes as it is (and can
    // be in the transfer list).
    const whole = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength;
    const buffer = (whole ? v.buffer : v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) as ArrayBuffer;
    return { [MARK]: v.constructor.name, buffer, length: v.length } satisfies Packed;
  }
  if (Array.isArray(message)) return message.map(packViews);
  if (!isPlain(message)) return message;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) out[k] = packViews(v);
  return out;
}

/** The inverse of {@link packViews}. */
export function unpackViews(message: unknown): unknown {
  if (typeof message !== 'object' || message === null || ArrayBuffer.isView(message)) return message;
  if (Array.isArray(message)) return message.map(unpackViews);
  if (!isPlain(message)) return message;
  const packed = message as Partial<Packed>;
  if (typeof packed[MARK] === 'string' && packed.buffer instanceof ArrayBuffer) {
    const ctor = (globalThis as unknown as Record<string, ViewCtor | undefined>)[packed[MARK]];
    if (typeof ctor === 'function') return new ctor(packed.buffer, 0, packed.length!);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) out[k] = unpackViews(v);
  return out;
}
