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
 * commands go out as one write, and a reply chunk is decoded once and parsed by resp.ts.
 *
 * What it keeps of a client: AUTH and SELECT from the URL, `rediss://` (TLS), a connect
 * deadline, a reply deadline (a late reply would leave the pipeline out of step, so the
 * connection is dropped and every caller gets the error), and errors Redis gives about one
 * key (WRONGTYPE) for that key alone.
 * @module
 */
import { Buffer } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { command, INCOMPLETE, parseAny, parseReply, type HashReply, type Resp } from './resp.ts';

export type { HashReply, HashValues } from './resp.ts';

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
  const auth: string[][] = password ? [username ? ['AUTH', username, password] : ['AUTH', password]] : [];

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
    let at = 0;
    try {
      while (head < pending.length) {
        const p = pending[head]!;
        const end = parseReply(buf, at, p.out);
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
   * with its client id once subscribed. What comes after are invalidation messages.
   */
  const openSubscriber = async (): Promise<string> => {
    let id = '';
    const { s, ready: subscribed } = dial(lostSubscriber, 'the invalidation connection to Redis closed', (s, finish) => {
      handshake(s, [...auth, ['CLIENT', 'ID'], ['SUBSCRIBE', INVALIDATE_CHANNEL]], finish, (step, v) => {
        if (step[1] === 'ID') id = String(v);
      }, (v) => {
        if (Array.isArray(v) && v[0] === 'message' && v[1] === INVALIDATE_CHANNEL) onInvalidate!(invalidated(v[2] ?? null));
      });
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
      const hello = [...auth, ...(db ? [['SELECT', String(db)]] : []), ...tracking];
      const start = (err?: Error) => {
        if (!err) s.on('data', (c: Buffer) => onData(s, c));
        finish(err);
      };
      if (hello.length === 0) start();
      else handshake(s, hello, start);
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

/**
 * A connection's first commands (AUTH, SELECT, CLIENT …): writes `steps` and reads one reply
 * each. `onReply` sees each answer; `finish(err)` comes with the first error reply (naming the
 * command, never a password) and `finish()` after the last answer. With `then`, every later
 * value goes to it (a subscriber's messages); without, the listener goes and the caller takes
 * the socket's data. Unparsable bytes destroy the socket (its error and close handlers run).
 */
function handshake(s: Socket, steps: readonly string[][], finish: (err?: Error) => void,
  onReply: (step: readonly string[], v: Resp) => void = () => {}, then?: (v: Resp) => void): void {
  let answered = 0;
  let buf = '';
  const onChunk = (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    let at = 0;
    for (;;) {
      let r: { v: Resp; end: number } | undefined;
      try {
        r = parseAny(buf, at);
      } catch (e) {
        finish(e as Error);
        s.destroy(e as Error);
        return;
      }
      if (r === undefined) break;
      at = r.end;
      if (answered === steps.length) {
        then!(r.v);
        continue;
      }
      const step = steps[answered++]!;
      if (r.v instanceof Error) {
        finish(new Error(`${step[0] === 'AUTH' ? 'AUTH' : step.join(' ')} failed: ${r.v.message}`));
        return;
      }
      onReply(step, r.v);
      if (answered === steps.length) {
        finish();
        if (!then) {
          s.off('data', onChunk);
          return;
        }
      }
    }
    buf = buf.slice(at);
  };
  s.on('data', onChunk);
  s.write(steps.map(command).join(''));
}
