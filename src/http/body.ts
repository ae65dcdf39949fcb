/**
 * Request bodies: content type, size limit and JSON parsing, each failure a named error.
 * The size limit is checked on Content-Length first and again while reading, so a lying or
 * chunked client cannot make the server buffer more than the limit.
 * @module
 */
import type { Context } from 'hono';
import * as v from 'valibot';
import { Errors, messageOf } from '../errors.ts';
import { formatIssues } from '../core/model-config.ts';

/**
 * The next chunk of a body. A failed read means the client went away or the host cut the
 * stream (shutdown): the request is broken, not the server.
 */
function read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<ReadableStreamReadResult<Uint8Array>> {
  return reader.read().then(undefined, rethrowUnreadable);
}

/** Reads at most `limit` bytes of the body. */
async function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    throw Errors.PAYLOAD_TOO_LARGE(`request body of ${declared} bytes is over the limit of ${limit} bytes`, { limit });
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await read(reader);
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw Errors.PAYLOAD_TOO_LARGE(`request body is over the limit of ${limit} bytes`, { limit });
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.byteLength;
  }
  return all;
}

/**
 * A body of `length` declared bytes, read chunk by chunk into one buffer of that size: no
 * growing, no concatenation. More bytes than declared is refused (the host should have cut
 * them off already); fewer gives what came.
 */
async function readSized(req: Request, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (!req.body) return out.subarray(0, 0);
  const reader = req.body.getReader();
  let off = 0;
  for (;;) {
    const { done, value } = await read(reader);
    if (done) break;
    if (off + value.byteLength > length) {
      await reader.cancel().catch(() => {});
      throw Errors.INVALID_REQUEST(`the request body is longer than its Content-Length of ${length} bytes`);
    }
    out.set(value, off);
    off += value.byteLength;
  }
  return off === length ? out : out.subarray(0, off);
}

/**
 * The body, at most `limit` bytes, whatever the content type. With a Content-Length
 * (checked against the limit first) the host's own reader `viaHost` is used: on Node,
 * touching `request.body` makes @hono/node-server build a full web stream per request
 * (measured: hello-world 24.8k → 6.2k req/s). Bodies declared at `sizedFrom` bytes or more
 * are read into one buffer of their size (`readSized`: where the host's reader is the slower,
 * see AppOptions.sizedBodyFrom), and chunked bodies of unknown length through the stream,
 * counting bytes as they come; both are given to `fromBytes`.
 */
function readBody<T>(c: Context, limit: number, sizedFrom: number, viaHost: () => Promise<T>, fromBytes: (b: Uint8Array) => T): Promise<T> {
  // Promise chains, not async functions: every request passes here, and each async layer is
  // a promise and a microtask more.
  const declared = c.req.header('content-length');
  if (declared === undefined || declared === '') return readLimited(c.req.raw, limit).then(fromBytes);
  const length = Number(declared);
  if (!(length <= limit)) {
    return Promise.reject(Errors.PAYLOAD_TOO_LARGE(`request body of ${declared} bytes is over the limit of ${limit} bytes`, { limit }));
  }
  if (length >= sizedFrom && Number.isInteger(length)) return readSized(c.req.raw, length).then(fromBytes);
  try {
    return viaHost().then(undefined, rethrowUnreadable);
  } catch (e) {
    return Promise.reject(unreadable(e));
  }
}

// Module-level, not closures made per request: under tsx (the Node CLI) each named closure
// is also renamed with Object.defineProperty per call, ~0.7 % of a request's CPU in a profile.
function unreadable(e: unknown): Error {
  return Errors.INVALID_REQUEST(`could not read the request body: ${messageOf(e)}`);
}

function rethrowUnreadable(e: unknown): never {
  throw unreadable(e);
}

/** The body's bytes, at most `limit` of them, whatever the content type. */
export function readBytes(c: Context, limit: number, sizedFrom = Infinity): Promise<Uint8Array> {
  return readBody(c, limit, sizedFrom, () => c.req.arrayBuffer().then((b) => new Uint8Array(b)), (b) => b);
}

/** Parses JSON text (INVALID_JSON when empty or malformed; nesting checked). */
export function parseJson(text: string): unknown {
  if (text.trim() === '') throw Errors.INVALID_JSON('the request body is empty; expected JSON');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw Errors.INVALID_JSON(`malformed JSON: ${messageOf(e)}`);
  }
  if (text.length > TEXT_SCAN_FROM) checkTextDepth(text, MAX_DEPTH);
  else checkDepth(value, MAX_DEPTH);
  return value;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Parses a JSON body after checking content type and size. */
export function readJson(c: Context, limit: number, sizedFrom = Infinity): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!JSON_TYPE.test(type)) {
    return Promise.reject(Errors.UNSUPPORTED_MEDIA_TYPE(`content-type must be application/json (got ${type ? JSON.stringify(type) : 'none'})`));
  }
  return readBody(c, limit, sizedFrom, () => c.req.text(), (b) => new TextDecoder().decode(b)).then(parseJson);
}

/** Deepest JSON nesting accepted; later code (hashing, flattening) may recurse per level. */
export const MAX_DEPTH = 64;

/**
 * Bodies longer than this (UTF-16 units) have their nesting measured on the text, not on the
 * parsed value. Walking a parsed 64-row request of 1,024 numbers each reads 65 k array
 * elements (and on V8 boxes each double it reads): ~1.5 ms on Node 20, where a regex that
 * jumps from bracket to bracket takes ~0.9 ms (and Bun's ~0.1 ms). On small bodies the walk
 * is the cheaper one (~0.2 µs against ~1 µs for the regex set-up on a realtime request).
 */
const TEXT_SCAN_FROM = 16_384;

/** What both depth checks throw. */
const tooDeep = (max: number) => Errors.INVALID_REQUEST(`JSON is nested deeper than ${max} levels`, { maxDepth: max });

/** Brackets and string starts: what the text scan stops at. */
const STRUCTURE = /[[\]{}"]/g;

/**
 * Rejects valid JSON `text` nested deeper than `max` levels, counting brackets outside
 * strings (a string is skipped to its first quote not escaped by an odd run of backslashes).
 */
function checkTextDepth(text: string, max: number): void {
  const re = STRUCTURE;
  re.lastIndex = 0;
  let depth = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const c = text.charCodeAt(m.index);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw tooDeep(max);
    } else if (c === 0x5d || c === 0x7d) depth--;
    else {
      let end = text.indexOf('"', m.index + 1);
      for (;;) {
        if (end < 0) return; // not JSON.parse's text: nothing more to count
        let k = end - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((end - 1 - k) % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      re.lastIndex = end + 1;
    }
  }
}

/**
 * Rejects JSON nested deeper than `max` levels, without recursion. Arrays are walked by index
 * and only containers are pushed: a 64-row request of 1,024 numbers each (a heavy model's
 * `instances`) took 1.3 ms per request through `for…of` and a tuple per value, a visible share
 * of the Node server's CPU under bench/realtime's heavy model.
 */
function checkDepth(root: unknown, max: number): void {
  if (root === null || typeof root !== 'object') return;
  const stack: object[] = [root];
  const depths: number[] = [1];
  while (stack.length) {
    const v = stack.pop()!;
    const d = depths.pop()!;
    if (d > max) throw tooDeep(max);
    const items: readonly unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (let i = 0; i < items.length; i++) {
      const child = items[i];
      if (child !== null && typeof child === 'object') {
        stack.push(child);
        depths.push(d + 1);
      }
    }
  }
}

/** Validates with a valibot schema; INVALID_REQUEST names each bad field by path. */
export function validate<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input);
  if (r.success) return r.output;
  const issues = formatIssues(r.issues);
  throw Errors.INVALID_REQUEST(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
}
