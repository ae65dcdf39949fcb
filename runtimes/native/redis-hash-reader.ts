/**
 * Pipelined HGETALL on a connection of its own: the feature store's read path, the one
 * Redis call every realtime request makes. Everything else (writes, PING, queues, caches)
 * stays on ioredis.
 *
 * Why not ioredis here: bench/realtime/redis-lookup.ts, a lookup = a `user:` hash (20 fields)
 * and an `item:` hash (10), 32 lookups per round trip, CPU µs per lookup (client / Redis):
 *
 *   ioredis pipeline of HGETALL                          74-79 / 12-14
 *   ioredis, one Lua script returning one string         22-36 / 34-42   (the store until 2026-11-27)
 *   this reader (plain HGETALL, parsed here)              8-14 /  9-11
 *
 * ioredis builds a command object and a promise per command and parses every bulk string
 * with a Buffer method call; the script made one reply of it, but Lua's conversion of each
 * HGETALL reply tripled Redis's CPU, and Redis shares the cores with the server. Here the
 * commands go out as one write, and a reply chunk is decoded once (latin1: one char per byte,
 * so RESP's byte lengths are string offsets), then cut with `substring`; a chunk holding
 * non-ASCII bytes is re-decoded as UTF-8 string by string.
 *
 * What it keeps of a client: AUTH and SELECT from the URL, `rediss://` (TLS), a connect
 * deadline, a reply deadline (a late reply would leave the pipeline out of step, so the
 * connection is dropped and every caller gets the error), and errors Redis gives about one
 * key (WRONGTYPE) for that key alone.
 * @module
 */
import { Buffer, isAscii } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** A hash's fields: canonical decimals as numbers, everything else as the string Redis holds. */
export type HashValues = Record<string, string | number>;
/** One key's answer: its fields, null when the key does not exist, or Redis's error about it. */
export type HashReply = HashValues | null | Error;

/** Options of {@link createHashReader}. */
export interface HashReaderOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://`. */
  url: string;
  /** Prepended to every key. */
  keyPrefix?: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /**
   * Turns on server-assisted client-side caching: a second connection subscribes to Redis's
   * invalidation channel and the reading connection sends `CLIENT TRACKING ON REDIRECT` to it,
   * so Redis reports every key read here that is later written, deleted, expired or evicted.
   * Called with those keys (without `keyPrefix`), or with null when anything may have
   * changed: a flush, or either connection lost (tracking ends with the connection).
   */
  onInvalidate?: (keys: string[] | null) => void;
}

/** Reads hashes over one pipelined connection. */
export interface HashReader {
  /** One reply per key, in order (connecting first, with AUTH and SELECT, when not connected); rejects when the connection fails or times out. */
  hgetall(keys: readonly string[]): Promise<HashReply[]>;
  close(): void;
}

interface Pending {
  readonly n: number;
  readonly out: HashReply[];
  resolve(v: HashReply[]): void;
  reject(e: Error): void;
}

const INCOMPLETE = -1;

/** Creates a reader; it connects on first use. */
export function createHashReader(o: HashReaderOptions): HashReader {
  const u = new URL(o.url);
  const tls = u.protocol === 'rediss:';
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(u.port || 6379);
  const password = decodeURIComponent(u.password);
  const username = decodeURIComponent(u.username);
  const db = Number(u.pathname.slice(1) || 0);
  const prefix = o.keyPrefix ?? '';

  let sock: Socket | undefined;
  /** The invalidation subscriber, with `onInvalidate`. */
  let sub: Socket | undefined;
  const onInvalidate = o.onInvalidate;
  let opening: Promise<void> | undefined;
  let ready = false;
  /** Batches written, oldest first; replies arrive in this order. */
  const pending: Pending[] = [];
  let head = 0;
  let rest: Buffer | undefined;
  /** The reply deadline's timer: one while anything is unanswered, re-armed only when it fires. */
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** When the oldest unanswered batch last made progress: written into an idle pipeline, or reply bytes came. */
  let progress = 0;
  let closed = false;

  const fail = (s: Socket, err: Error): void => {
    if (sock !== s) return;
    sock = undefined;
    ready = false;
    rest = undefined;
    if (timer) clearTimeout(timer);
    timer = undefined;
    s.destroy();
    if (onInvalidate) {
      // Tracking ends with the connection: nothing read on it is known fresh any more.
      const ss = sub;
      sub = undefined;
      ss?.destroy();
      onInvalidate(null);
    }
    const all = pending.splice(0).slice(head);
    head = 0;
    for (const p of all) p.reject(err);
  };

  /** The subscriber is gone: invalidations would be missed, so the reading connection goes too. */
  const lostSubscriber = (s: Socket, err: Error): void => {
    if (sub !== s) return;
    sub = undefined;
    s.destroy();
    onInvalidate!(null);
    if (sock) fail(sock, err);
  };

  /** Keys of an invalidation message's payload, prefix removed; null: everything (a flush). */
  const invalidated = (payload: Resp): string[] | null => {
    if (!Array.isArray(payload)) return null;
    const keys: string[] = [];
    for (const k of payload) {
      if (typeof k !== 'string') continue;
      const key = Buffer.from(k, 'latin1').toString('utf8');
      if (key.startsWith(prefix)) keys.push(key.slice(prefix.length));
    }
    return keys;
  };

  /**
   * The reply deadline: `commandTimeoutMs` after the last progress. Progress only moves a
   * timestamp; the timer, when it fires, fails the connection or waits out the rest. Setting
   * and clearing a timer per socket read was a visible share of Deno's CPU (Node-compat
   * timers) and churn on every host; this sets one per deadline period. Unreferenced: a
   * deadline never keeps a process alive (the socket does while replies are due).
   */
  const watch = (s: Socket, ms: number): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (sock !== s || head >= pending.length) return;
      const late = Date.now() - progress;
      if (late >= o.commandTimeoutMs) fail(s, new Error(`no reply within ${o.commandTimeoutMs} ms`));
      else watch(s, o.commandTimeoutMs - late);
    }, ms);
    (timer as { unref?: () => void }).unref?.();
  };

  const onData = (s: Socket, chunk: Buffer): void => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    const ascii = isAscii(buf);
    const text = buf.toString('latin1');
    let at = 0;
    try {
      while (head < pending.length) {
        const p = pending[head]!;
        const end = parseReply(text, at, p.out, ascii);
        if (end === INCOMPLETE) break;
        at = end;
        if (p.out.length === p.n) {
          head++;
          p.resolve(p.out);
        }
      }
    } catch (e) {
      fail(s, e as Error);
      return;
    }
    if (head === pending.length) {
      pending.length = 0;
      head = 0;
    } else if (head > 64) {
      pending.splice(0, head);
      head = 0;
    }
    if (at < buf.length && head === pending.length) {
      fail(s, new Error('Redis sent more replies than were asked for'));
      return;
    }
    rest = at === buf.length ? undefined : buf.subarray(at);
    progress = Date.now();
  };

  /**
   * Opens a socket under the connect deadline. `greet` runs once connected and calls
   * `finish()` when the connection is ready for use, or `finish(err)`; an error or close at
   * any time goes to `lost` as well.
   */
  const dial = (lost: (s: Socket, e: Error) => void, closedBy: string, greet: (s: Socket, finish: (err?: Error) => void) => void): { s: Socket; ready: Promise<void> } => {
    const s = tls ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
    s.setNoDelay(true);
    const ready = new Promise<void>((resolve, reject) => {
      let done = false;
      const deadline = setTimeout(() => finish(new Error(`connect to ${host}:${port} timed out after ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        if (err) {
          s.destroy();
          reject(err);
        } else resolve();
      };
      s.on('error', (e: Error) => {
        finish(e);
        lost(s, e);
      });
      s.on('close', () => {
        finish(new Error('connection closed'));
        lost(s, new Error(closedBy));
      });
      s.once(tls ? 'secureConnect' : 'connect', () => greet(s, finish));
    });
    return { s, ready };
  };

  /**
   * Opens the subscriber: AUTH, CLIENT ID, SUBSCRIBE to the invalidation channel; resolves
   * with its client id once subscribed.
   */
  const openSubscriber = async (): Promise<string> => {
    let id = '';
    const { s, ready: subscribed } = dial(lostSubscriber, 'the invalidation connection to Redis closed', (s, finish) => {
      /** The handshake is over: what comes now are messages. */
      let done = false;
      const steps: string[][] = [];
      if (password) steps.push(username ? ['AUTH', username, password] : ['AUTH', password]);
      steps.push(['CLIENT', 'ID'], ['SUBSCRIBE', INVALIDATE_CHANNEL]);
      let answered = 0;
      let buf = '';
      s.on('data', (chunk: Buffer) => {
        buf += chunk.toString('latin1');
        let at = 0;
        for (;;) {
          let r: { v: Resp; end: number } | undefined;
          try {
            r = parseAny(buf, at);
          } catch (e) {
            done = true;
            finish(e as Error);
            lostSubscriber(s, e as Error);
            return;
          }
          if (r === undefined) break;
          at = r.end;
          const v = r.v;
          if (!done) {
            const step = steps[answered++]!;
            if (v instanceof Error) {
              done = true;
              return finish(new Error(`${step[0] === 'AUTH' ? 'AUTH' : step.join(' ')} failed: ${v.message}`));
            }
            if (step[1] === 'ID') id = String(v);
            if (answered === steps.length) {
              done = true;
              finish();
            }
          } else if (Array.isArray(v) && v[0] === 'message' && v[1] === INVALIDATE_CHANNEL) {
            onInvalidate!(invalidated(v[2] ?? null));
          }
        }
        buf = buf.slice(at);
      });
      s.write(steps.map(command).join(''));
    });
    sub = s;
    try {
      await subscribed;
    } catch (e) {
      if (sub === s) sub = undefined;
      throw e;
    }
    return id;
  };

  const open = async (): Promise<void> => {
    if (!onInvalidate) return openReader([]);
    const id = await openSubscriber();
    try {
      await openReader([['CLIENT', 'TRACKING', 'ON', 'REDIRECT', id]]);
    } catch (e) {
      const ss = sub;
      sub = undefined;
      ss?.destroy();
      throw e;
    }
  };

  const openReader = async (tracking: string[][]): Promise<void> => {
    const { s, ready: greeted } = dial(fail, 'connection closed by Redis', (s, finish) => {
      // AUTH and SELECT first, answered before any lookup is written.
      const hello: string[][] = [];
      if (password) hello.push(username ? ['AUTH', username, password] : ['AUTH', password]);
      if (db) hello.push(['SELECT', String(db)]);
      hello.push(...tracking);
      if (hello.length === 0) {
        s.on('data', (c: Buffer) => onData(s, c));
        return finish();
      }
      let answered = 0;
      let buf = '';
      const onHello = (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          if (line[0] !== '+') return finish(new Error(`${hello[answered]![0]} failed: ${line.slice(1)}`));
          if (++answered === hello.length) {
            s.off('data', onHello);
            s.on('data', (c: Buffer) => onData(s, c));
            return finish();
          }
        }
      };
      s.on('data', onHello);
      s.write(hello.map(command).join(''));
    });
    sock = s;
    try {
      await greeted;
    } catch (e) {
      if (sock === s) sock = undefined;
      throw e;
    }
    ready = true;
  };

  const connect = (): Promise<void> => {
    if (closed) return Promise.reject(new Error('the reader is closed'));
    if (ready) return Promise.resolve();
    opening ??= open().finally(() => { opening = undefined; });
    return opening;
  };

  return {
    async hgetall(keys) {
      if (keys.length === 0) return [];
      if (!ready) await connect();
      const s = sock!;
      let out = '';
      for (const k of keys) {
        const key = prefix + k;
        out += `*2\r\n$7\r\nHGETALL\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`;
      }
      return new Promise<HashReply[]>((resolve, reject) => {
        // Written into an idle pipeline: its deadline starts now.
        if (head === pending.length) progress = Date.now();
        pending.push({ n: keys.length, out: [], resolve, reject });
        if (!timer) watch(s, o.commandTimeoutMs);
        s.write(out);
      });
    },
    close() {
      closed = true;
      if (sock) fail(sock, new Error('the reader is closed'));
      const ss = sub;
      sub = undefined;
      ss?.destroy();
    },
  };
}

const INVALIDATE_CHANNEL = '__redis__:invalidate';

/** A RESP2 value as {@link parseAny} reads it (bulk strings as latin1 text). */
type Resp = string | number | null | Error | Resp[];

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
function command(args: string[]): string {
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
