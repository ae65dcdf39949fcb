/**
 * RESP2, as the hash reader (redis-hash-reader.ts) speaks it: HGETALL replies parsed fast
 * (the realtime path: one per feature lookup), any other value parsed simply (handshakes and
 * invalidation messages), and commands written out.
 *
 * A reply chunk is decoded once as latin1 (one char per byte, so RESP's byte lengths are
 * string offsets), then cut with `substring`; a chunk holding non-ASCII bytes is re-decoded
 * as UTF-8 string by string.
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
 * Parses one HGETALL reply from `text` (the chunk decoded as latin1) at `at` into `out`;
 * returns the offset after it, or INCOMPLETE (-1) when the chunk ends inside it.
 * Exported for its tests.
 * @internal
 */
export function parseReply(text: string, at: number, out: HashReply[], ascii: boolean): number {
  const len = text.length;
  if (at + 3 > len) return INCOMPLETE;
  const type = text.charCodeAt(at);
  if (type === 45 /* - */) {
    const nl = text.indexOf('\r\n', at);
    if (nl < 0) return INCOMPLETE;
    out.push(new Error(utf8(text.substring(at + 1, nl), ascii)));
    return nl + 2;
  }
  if (type !== 42 /* * */) throw new Error(`unexpected reply from Redis: ${JSON.stringify(text.substring(at, at + 40))}`);
  let p = at + 1;
  let n = 0;
  for (let c = text.charCodeAt(p); c !== 13; c = text.charCodeAt(++p)) {
    if (p >= len) return INCOMPLETE;
    n = n * 10 + c - 48;
  }
  p += 2;
  if (n === 0) {
    if (p > len) return INCOMPLETE;
    out.push(null);
    return p;
  }
  // Values in reply order; names walk the shape trie (ASCII replies) or go to `names`.
  const values: (string | number)[] = new Array(n >> 1);
  let node: Shape | undefined = ascii ? SHAPES : undefined;
  let names: string[] | undefined = ascii ? undefined : new Array(n >> 1);
  for (let i = 0; i < n; i++) {
    if (p >= len) return INCOMPLETE;
    if ((i & 1) === 0 && node !== undefined) {
      // Most trie nodes have one child (a store's hashes of one kind share their fields):
      // the child taken last time is tried first, its whole `$len\r\nname\r\n` in one
      // startsWith (on Bun a quarter of the parse, against the digit and name loops).
      const last = node.last;
      if (last !== undefined && text.startsWith(last.head!, p)) {
        node = last;
        p += last.head!.length;
        continue;
      }
    }
    if (text.charCodeAt(p) !== 36 /* $ */) throw new Error(`unexpected reply from Redis: ${JSON.stringify(text.substring(p, p + 40))}`);
    let size = 0;
    for (let c = text.charCodeAt(++p); c !== 13; c = text.charCodeAt(++p)) {
      if (p >= len) return INCOMPLETE;
      size = size * 10 + c - 48;
    }
    const s = p + 2;
    p = s + size + 2;
    if (p > len) return INCOMPLETE;
    if ((i & 1) === 1) values[i >> 1] = decimalAt(text, s, size) ?? utf8(text.substring(s, s + size), ascii);
    else if (names) names[i >> 1] = utf8(text.substring(s, s + size), ascii);
    else {
      const name = fieldName(text, s, size, i >> 1);
      let next = node!.next?.get(name);
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
        next = { name, parent: node, head: `$${size}\r\n${name}\r\n` };
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
  /** This field's name as RESP puts it in a reply: `$len\r\nname\r\n` (ASCII: length in chars is in bytes). */
  readonly head?: string;
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

/** True when `text[at, at + size)` is `name`. */
function sameName(text: string, at: number, size: number, name: string): boolean {
  if (name.length !== size) return false;
  for (let j = 0; j < size; j++) if (name.charCodeAt(j) !== text.charCodeAt(at + j)) return false;
  return true;
}

function fieldName(text: string, at: number, size: number, slot: number): string {
  if (slot >= NAME_SLOTS) return text.substring(at, at + size);
  const seen = (NAMES[slot] ??= []);
  for (let k = 0; k < seen.length; k++) {
    const c = seen[k]!;
    if (sameName(text, at, size, c)) return c;
  }
  // The key form of the name (what an object literal's key is), kept for next time.
  const name = Object.keys({ [text.substring(at, at + size)]: 0 })[0]!;
  if (seen.length < NAMES_PER_SLOT) seen.push(name);
  else seen[(Math.random() * NAMES_PER_SLOT) | 0] = name;
  return name;
}

const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * The number written at `text[at, at + size)` when it is a canonical decimal, else undefined:
 * an optional `-`, at most 15 significant digits, no leading zeros (one `0` before the point),
 * no trailing zeros or point, not below 1e-6 (JavaScript writes those with an exponent). For
 * such text `String(value)` is the text itself, so nothing is lost or reinterpreted, and the
 * value is exact: an integer below 2^53 divided by an exact power of ten rounds once.
 * Reading it here, from the reply, skips a substring per value and a Number() per feature
 * later (on Bun that pair was ~20 % of the server's CPU under bench/realtime).
 */
export function decimalAt(text: string, at: number, size: number): number | undefined {
  if (size === 0 || size > 17) return undefined;
  const end = at + size;
  let p = at;
  const neg = text.charCodeAt(p) === 45; /* - */
  if (neg) p++;
  let m = 0;
  let digits = 0;
  let point = -1;
  const first = p;
  for (; p < end; p++) {
    const c = text.charCodeAt(p);
    if (c >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      if (m !== 0) digits++; // significant digits only: 0.000123 has three
    } else if (c === 46 /* . */ && point < 0) point = p;
    else return undefined;
  }
  const intLen = (point < 0 ? end : point) - first;
  if (intLen === 0 || digits > 15) return undefined;
  if (intLen > 1 && text.charCodeAt(first) === 48) return undefined; // 007
  if (point >= 0) {
    const last = text.charCodeAt(end - 1);
    if (point === end - 1 || last === 48) return undefined; // 5. and 1.50
    if (m === 0) return undefined; // 0.0
    if (intLen === 1 && text.charCodeAt(first) === 48) {
      // 0.0000001 prints as 1e-7: keep the text
      let z = point + 1;
      while (text.charCodeAt(z) === 48) z++;
      if (z - point - 1 >= 6) return undefined;
    }
  }
  if (neg && m === 0) return undefined; // -0
  const x = point < 0 ? m : m / POW10[end - point - 1]!;
  return neg ? -x : x;
}

/** A latin1-decoded string back to what its bytes say in UTF-8. */
function utf8(latin1: string, ascii: boolean): string {
  return ascii ? latin1 : Buffer.from(latin1, 'latin1').toString('utf8');
}
