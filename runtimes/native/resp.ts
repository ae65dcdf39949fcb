/**
 * RESP2, as the hash reader (redis-hash-reader.ts) speaks it: HGETALL replies parsed fast
 * (the realtime path: one per feature lookup), any other value parsed simply (handshakes and
 * invalidation messages), and commands written out.
 *
 * HGETALL replies are parsed from the socket's bytes: lengths, names and decimals are read
 * byte by byte and only the strings a hash hands over are decoded (UTF-8). Decoding each
 * chunk as latin1 text first and cutting that cost V8 (Node, Deno) ~1.5-2 µs more per
 * lookup of two 30-field hashes (a microbenchmark of 32 pipelined lookups), and Bun the same.
 * The subscriber's messages and handshake replies (few, short) are parsed as latin1 text by
 * {@link parseAny}.
 * @module
 */
import { Buffer } from 'node:buffer';

/** A hash's fields: canonical decimals as numbers, everything else as the string Redis holds. */
export type HashValues = Record<string, string | number>;
/** One key's answer: its fields, null when the key does not exist, or Redis's error about it. */
export type HashReply = HashValues | null | Error;

/** What the parsers return when the text ends inside a value. */
export const INCOMPLETE = -1;

/** A RESP2 value as {@link parseAny} reads it (bulk strings as latin1 text). */
export type Resp = string | number | null | Error | Resp[];

/**
 * One RESP2 value of any type at `at`, or undefined when `text` ends inside it: the
 * subscriber's reader (a few messages, not the hot path).
 * @internal
 */
export function parseAny(text: string, at: number): { v: Resp; end: number } | undefined {
  const nl = text.indexOf('\r\n', at);
  if (nl < 0) return undefined;
  const type = text[at];
  const line = text.substring(at + 1, nl);
  switch (type) {
    case '+': return { v: line, end: nl + 2 };
    case '-': return { v: new Error(line), end: nl + 2 };
    case ':': return { v: Number(line), end: nl + 2 };
    case '$': {
      const size = Number(line);
      if (size < 0) return { v: null, end: nl + 2 };
      const end = nl + 2 + size + 2;
      return end > text.length ? undefined : { v: text.substring(nl + 2, nl + 2 + size), end };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { v: null, end: nl + 2 };
      const items: Resp[] = [];
      let p = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = parseAny(text, p);
        if (r === undefined) return undefined;
        items.push(r.v);
        p = r.end;
      }
      return { v: items, end: p };
    }
    default:
      throw new Error(`unexpected reply from Redis: ${JSON.stringify(text.substring(at, at + 40))}`);
  }
}

/** A command in RESP. */
export function command(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * Parses one HGETALL reply from the bytes `b` at `at` into `out`; returns the offset after
 * it, or INCOMPLETE (-1) when the bytes end inside it. Exported for its tests.
 * @internal
 */
export function parseReply(b: Uint8Array, at: number, out: HashReply[]): number {
  const len = b.length;
  if (at + 3 > len) return INCOMPLETE;
  const type = b[at];
  if (type === 45 /* - */) {
    const nl = lineEnd(b, at);
    if (nl < 0) return INCOMPLETE;
    out.push(new Error(text(b, at + 1, nl)));
    return nl + 2;
  }
  if (type !== 42 /* * */) throw unexpected(b, at);
  let p = at + 1;
  let n = 0;
  for (let c = b[p]!; c !== 13; c = b[++p]!) {
    if (p >= len) return INCOMPLETE;
    n = n * 10 + c - 48;
  }
  p += 2;
  if (n === 0) {
    if (p > len) return INCOMPLETE;
    out.push(null);
    return p;
  }
  // Values in reply order; names walk the shape trie (or go to `names` off it).
  const values: (string | number)[] = new Array(n >> 1);
  let node: Shape | undefined = SHAPES;
  let names: string[] | undefined;
  for (let i = 0; i < n; i++) {
    if (p >= len) return INCOMPLETE;
    if ((i & 1) === 0 && node !== undefined) {
      // Most trie nodes have one child (a store's hashes of one kind share their fields):
      // the child taken last time is tried first, its whole `$len\r\nname\r\n` compared
      // byte for byte, instead of the digit loop and a name lookup.
      const last: Shape | undefined = node.last;
      if (last !== undefined) {
        const head = last.head!;
        const hl = head.length;
        if (p + hl <= len) {
          let j = 0;
          while (j < hl && b[p + j] === head[j]) j++;
          if (j === hl) {
            node = last;
            p += hl;
            continue;
          }
        }
      }
    }
    if (b[p] !== 36 /* $ */) throw unexpected(b, p);
    let size = 0;
    for (let c = b[++p]!; c !== 13; c = b[++p]!) {
      if (p >= len) return INCOMPLETE;
      size = size * 10 + c - 48;
    }
    const s = p + 2;
    p = s + size + 2;
    if (p > len) return INCOMPLETE;
    if ((i & 1) === 1) values[i >> 1] = decimalAt(b, s, size) ?? text(b, s, s + size);
    else if (names) names[i >> 1] = text(b, s, s + size);
    else {
      const name = fieldName(b, s, size, i >> 1);
      let next: Shape | undefined = node!.next?.get(name);
      if (!next) {
        if (shapeCount >= MAX_SHAPES || name === '__proto__') {
          // Off the trie: build this one by hand.
          names = [];
          let back: Shape | undefined = node;
          while (back && back.name !== undefined) { names.unshift(back.name); back = back.parent; }
          names.push(name);
          node = undefined;
          continue;
        }
        shapeCount++;
        next = { name, parent: node, head: ENCODER.encode(`$${size}\r\n${name}\r\n`) };
        (node!.next ??= new Map()).set(name, next);
      }
      node!.last = next;
      node = next;
    }
  }
  if (node) {
    node.make ??= shapeFactory(node);
    out.push(node.make(values));
  } else {
    const h: HashValues = {};
    for (let k = 0; k < names!.length; k++) {
      const key = names![k]!;
      // A field named __proto__ is data like any other, not the object's prototype.
      if (key === '__proto__') Object.defineProperty(h, key, { value: values[k], enumerable: true, writable: true, configurable: true });
      else h[key] = values[k]!;
    }
    out.push(h);
  }
  return p;
}

/** The offset of the first CR at or after `at`, or -1 when its line is not complete. */
function lineEnd(b: Uint8Array, at: number): number {
  for (let p = at; p + 1 < b.length; p++) if (b[p] === 13 && b[p + 1] === 10) return p;
  return -1;
}

function unexpected(b: Uint8Array, at: number): Error {
  return new Error(`unexpected reply from Redis: ${JSON.stringify(DECODER.decode(b.subarray(at, at + 40)))}`);
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/**
 * The UTF-8 text of `b[at, end)`. Short ASCII runs (feature names and values) are built char
 * by char: cheaper than a TextDecoder call for a few bytes on every host.
 */
function text(b: Uint8Array, at: number, end: number): string {
  if (end - at > 24) return DECODER.decode(b.subarray(at, end));
  let s = '';
  for (let i = at; i < end; i++) {
    const c = b[i]!;
    if (c >= 128) return DECODER.decode(b.subarray(at, end));
    s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Hash shapes: a trie of field-name sequences, each node that ended a reply holding a
 * function that builds the object from its values with an object literal. An object built
 * field by field with computed keys turns into a dictionary past 16 fields in V8 (every
 * lookup's user hash has 20), and merging and reading it cost more again; a literal gives
 * every hash of one shape the same fast layout. At most MAX_SHAPES nodes (hashes whose
 * fields vary without end fall back to field-by-field objects).
 */
interface Shape {
  readonly name?: string;
  readonly parent?: Shape;
  next?: Map<string, Shape>;
  /** The child taken most recently: checked first. */
  last?: Shape;
  /** This field's name as RESP puts it in a reply: `$len\r\nname\r\n`, in bytes. */
  readonly head?: Uint8Array;
  make?: (values: (string | number)[]) => HashValues;
}
const SHAPES: Shape = {};
const MAX_SHAPES = 4096;
let shapeCount = 0;

function shapeFactory(end: Shape): (values: (string | number)[]) => HashValues {
  const names: string[] = [];
  for (let s: Shape | undefined = end; s && s.name !== undefined; s = s.parent) names.unshift(s.name);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- keys are JSON-escaped data, never code
  return new Function('v', `return {${names.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(', ')}};`) as (values: (string | number)[]) => HashValues;
}

/**
 * Field names seen at each position of a hash, a few per position (user and item hashes
 * differ): a name equal to one of them is that string, already a property key. A fresh
 * `substring` as a key costs V8 a string-table lookup per field, and building a 30-field
 * lookup's two objects took ~6 µs on Node against ~1 µs with names seen before
 * (a microbenchmark of the same 30 fields, fresh vs repeated name strings).
 */
const NAMES: string[][] = [];
const NAME_SLOTS = 256;
const NAMES_PER_SLOT = 8;

/** True when the bytes `b[at, at + size)` are `name` (an ASCII name; others never match and are decoded). */
function sameName(b: Uint8Array, at: number, size: number, name: string): boolean {
  if (name.length !== size) return false;
  for (let j = 0; j < size; j++) if (name.charCodeAt(j) !== b[at + j]) return false;
  return true;
}

function fieldName(b: Uint8Array, at: number, size: number, slot: number): string {
  if (slot >= NAME_SLOTS) return text(b, at, at + size);
  const seen = (NAMES[slot] ??= []);
  for (let k = 0; k < seen.length; k++) {
    const c = seen[k]!;
    if (sameName(b, at, size, c)) return c;
  }
  // The key form of the name (what an object literal's key is), kept for next time. Only an
  // ASCII name (one char per byte) can ever match `sameName`: a non-ASCII one kept here would
  // be pushed again with every reply and crowd the slot's ASCII names out.
  const name = Object.keys({ [text(b, at, at + size)]: 0 })[0]!;
  if (name.length !== size) return name;
  if (seen.length < NAMES_PER_SLOT) seen.push(name);
  else seen[(Math.random() * NAMES_PER_SLOT) | 0] = name;
  return name;
}

const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * The number written in the bytes `b[at, at + size)` when it is a canonical decimal, else undefined:
 * an optional `-`, at most 15 significant digits, no leading zeros (one `0` before the point),
 * no trailing zeros or point, not below 1e-6 (JavaScript writes those with an exponent). For
 * such text `String(value)` is the text itself, so nothing is lost or reinterpreted, and the
 * value is exact: an integer below 2^53 divided by an exact power of ten rounds once.
 * Reading it here, from the reply, skips a substring per value and a Number() per feature
 * later (on Bun that pair was ~20 % of the server's CPU under bench/realtime).
 */
export function decimalAt(b: Uint8Array, at: number, size: number): number | undefined {
  if (size === 0 || size > 17) return undefined;
  const end = at + size;
  let p = at;
  const neg = b[p] === 45; /* - */
  if (neg) p++;
  let m = 0;
  let digits = 0;
  let point = -1;
  const first = p;
  for (; p < end; p++) {
    const c = b[p]!;
    if (c >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      if (m !== 0) digits++; // significant digits only: 0.000123 has three
    } else if (c === 46 /* . */ && point < 0) point = p;
    else return undefined;
  }
  const intLen = (point < 0 ? end : point) - first;
  if (intLen === 0 || digits > 15) return undefined;
  if (intLen > 1 && b[first] === 48) return undefined; // 007
  if (point >= 0) {
    const last = b[end - 1];
    if (point === end - 1 || last === 48) return undefined; // 5. and 1.50
    if (m === 0) return undefined; // 0.0
    if (intLen === 1 && b[first] === 48) {
      // 0.0000001 prints as 1e-7: keep the text
      let z = point + 1;
      while (b[z] === 48) z++;
      if (z - point - 1 >= 6) return undefined;
    }
  }
  if (neg && m === 0) return undefined; // -0
  const x = point < 0 ? m : m / POW10[end - point - 1]!;
  return neg ? -x : x;
}
