/**
 * `omniserve redis-rest`: an HTTP gateway that speaks Upstash's Redis REST wire format over
 * a real Redis, so `@upstash/redis` (and our edge feature store) runs for real in tests and
 * users can develop edge code locally.
 *
 * The wire format, as @upstash/redis 1.x uses it (pkg/http.ts, pkg/pipeline.ts):
 * - every call is `POST` with a JSON array body: `/` one command, `/pipeline` and
 *   `/multi-exec` an array of commands; `GET /get/key` path-style also works;
 * - `Authorization: Bearer <token>`;
 * - replies are `{"result": …}` or `{"error": "…"}` (HTTP 400), an array of those for
 *   pipelines; RESP2 shapes (HGETALL is a flat array), integers stay numbers;
 * - with `Upstash-Encoding: base64` (the client's default) every string in a result is
 *   base64, at any depth; errors are not encoded.
 * @module
 */
import { Buffer } from 'node:buffer';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { Redis } from 'ioredis';
import { Errors } from '../../src/errors.ts';

/** Options for {@link startRedisRestGateway}. */
export interface RedisRestOptions {
  /** The Redis to forward to, e.g. `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1: loopback only. */
  host?: string;
  /** Bearer token clients must send. */
  token: string;
}

/** Counters, for tests that assert how many requests a client made. */
export interface RedisRestStats {
  /** HTTP requests received, authorised or not. */
  requests: number;
  /** Redis commands forwarded. */
  commands: number;
  /** Requests refused with 401. */
  unauthorized: number;
}

/** A running gateway. */
export interface RedisRestGateway {
  /** `http://host:port`, the `url` to give `new Redis({ url, token })`. */
  readonly url: string;
  readonly port: number;
  readonly stats: Readonly<RedisRestStats>;
  close(): Promise<void>;
}

type Arg = string;
type Command = Arg[];
type Reply = { result: unknown } | { error: string };

/**
 * Commands that would change the shared connection's state (MULTI, SELECT, SUBSCRIBE …):
 * refused, as Upstash refuses them; transactions go through `/multi-exec`.
 */
const REFUSED = new Set([
  'multi', 'exec', 'discard', 'watch', 'unwatch', 'select', 'quit', 'reset', 'hello', 'auth',
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe',
  'monitor', 'sync', 'psync', 'replicaof', 'slaveof',
]);
const BLOCKING = new Set(['blpop', 'brpop', 'brpoplpush', 'blmove', 'blmpop', 'bzpopmin', 'bzpopmax', 'bzmpop', 'wait', 'waitaof']);

/** A command that may block its connection: run it on a connection of its own. */
function blocks(cmd: Command): boolean {
  const name = cmd[0]!.toLowerCase();
  return BLOCKING.has(name) || ((name === 'xread' || name === 'xreadgroup') && cmd.some((a) => a.toUpperCase() === 'BLOCK'));
}

/** Starts the gateway; resolves once it is listening. */
export async function startRedisRestGateway(options: RedisRestOptions): Promise<RedisRestGateway> {
  const { redisUrl, port = 0, host = '127.0.0.1', token } = options;
  if (!token) throw Errors.INVALID_CONFIG('redis-rest needs a token (--token or UPSTASH_REDIS_REST_TOKEN)', { path: 'token' });
  const stats: RedisRestStats = { requests: 0, commands: 0, unauthorized: 0 };
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  redis.on('error', () => {}); // surfaced per request as 503s
  const spare: Redis[] = []; // idle connections for blocking commands
  const busy = new Set<Redis>();

  /** Runs `fn` on a connection of its own, so a BLPOP or XREAD BLOCK stalls nobody else. */
  const isolated = async <T>(fn: (conn: Redis) => Promise<T>): Promise<T> => {
    let conn = spare.pop();
    if (conn === undefined) {
      conn = redis.duplicate({ lazyConnect: true });
      conn.on('error', () => {});
    }
    busy.add(conn);
    try {
      return await fn(conn);
    } finally {
      busy.delete(conn);
      if (spare.length < 4 && conn.status === 'ready') spare.push(conn);
      else conn.disconnect();
    }
  };

  const app = new Hono();
  app.use('*', async (c, next) => {
    stats.requests++;
    if (!authorised(c, token)) {
      stats.unauthorized++;
      return c.json({ error: 'Unauthorized' }, 401);
    }
    await next();
  });
  app.onError((e, c) => c.json({ error: unavailableMessage(e) }, 503));

  app.post('/pipeline', async (c) => {
    const cmds = parseCommands(await c.req.text());
    if (typeof cmds === 'string') return c.json({ error: cmds }, 400);
    stats.commands += cmds.length;
    const exec = (conn: Redis) => pipelineOn(conn, cmds);
    const replies = cmds.some(blocks) ? await isolated(exec) : await exec(redis);
    return c.json(replies.map((r) => encodeReply(r, base64(c))));
  });

  app.post('/multi-exec', async (c) => {
    const cmds = parseCommands(await c.req.text());
    if (typeof cmds === 'string') return c.json({ error: cmds }, 400);
    stats.commands += cmds.length;
    const tx = redis.multi();
    for (const cmd of cmds) tx.callBuffer(cmd[0]!, ...cmd.slice(1));
    const results = await tx.exec().catch((e: unknown) => replyError(e));
    if (results === null) return c.json({ error: 'EXECABORT Transaction discarded' }, 400);
    if (!Array.isArray(results)) return c.json(results, 400);
    return c.json(results.map(([err, value]) => encodeReply(err ? replyError(err) : { result: value }, base64(c))));
  });

  // `POST /` with a command array, or path style: `GET /get/key`, `POST /set/key` + body.
  app.on(['GET', 'POST'], '*', async (c) => {
    const path = pathSegments(c.req.path);
    const body = c.req.method === 'POST' ? await c.req.text() : '';
    let cmd: Command | string;
    if (path === null) cmd = 'ERR malformed percent-encoding in the path';
    else if (path.length === 0) cmd = body === '' ? 'ERR no command given' : parseCommand(parseJson(body));
    else cmd = parseCommand(body === '' ? path : [...path, body]);
    if (typeof cmd === 'string') return c.json({ error: cmd }, 400);
    stats.commands++;
    const reply = blocks(cmd) ? await isolated((conn) => callOn(conn, cmd)) : await callOn(redis, cmd);
    return c.json(encodeReply(reply, base64(c)), 'error' in reply ? 400 : 200);
  });

  let server: ServerType | undefined;
  const bound = await new Promise<number>((resolve, reject) => {
    server = serve({ fetch: app.fetch, port, hostname: host }, (info) => resolve(info.port));
    server.once('error', reject);
  });
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${bound}`,
    port: bound,
    stats,
    async close() {
      await new Promise<void>((resolve) => {
        server!.close(() => resolve());
        // Keep-alive sockets of clients would hold close() open.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      for (const conn of [...spare, ...busy]) conn.disconnect();
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

function authorised(c: Context, token: string): boolean {
  const header = c.req.header('authorization') ?? '';
  const given = header.startsWith('Bearer ') ? header.slice(7) : (c.req.query('_token') ?? '');
  if (given.length !== token.length) return false;
  // Compare every character, so the time taken does not reveal how much of a guess matched.
  let diff = 0;
  for (let i = 0; i < token.length; i++) diff |= token.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}

function base64(c: Context): boolean {
  return (c.req.header('upstash-encoding') ?? '').toLowerCase() === 'base64';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function pathSegments(path: string): string[] | null {
  try {
    return path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
}

/** A JSON command → string arguments (the client sends numbers as JSON numbers). */
function parseCommand(raw: unknown): Command | string {
  if (!Array.isArray(raw) || raw.length === 0) return 'ERR a command is a non-empty JSON array';
  const cmd: Command = [];
  for (const a of raw) {
    if (typeof a === 'string') cmd.push(a);
    else if (typeof a === 'number' || typeof a === 'boolean') cmd.push(String(a));
    else return `ERR unsupported argument ${JSON.stringify(a)}: use strings and numbers`;
  }
  const name = cmd[0]!.toLowerCase();
  if (REFUSED.has(name)) return `ERR ${cmd[0]} is not supported over REST${name === 'multi' ? '; use /multi-exec' : ''}`;
  // Upper case on purpose: ioredis keys its reply transformers by lower-case name
  // (HGETALL → object), and the wire format wants Redis's own reply shapes.
  cmd[0] = cmd[0]!.toUpperCase();
  return cmd;
}

function parseCommands(text: string): Command[] | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return 'ERR the body must be a JSON array of commands';
  }
  if (!Array.isArray(raw) || raw.length === 0) return 'ERR the body must be a non-empty JSON array of commands';
  const cmds: Command[] = [];
  for (const r of raw) {
    const cmd = parseCommand(r);
    if (typeof cmd === 'string') return cmd;
    cmds.push(cmd);
  }
  return cmds;
}

async function callOn(conn: Redis, cmd: Command): Promise<Reply> {
  try {
    return { result: await conn.callBuffer(cmd[0]!, ...cmd.slice(1)) };
  } catch (e) {
    return replyError(e);
  }
}

async function pipelineOn(conn: Redis, cmds: Command[]): Promise<Reply[]> {
  const p = conn.pipeline();
  for (const cmd of cmds) p.callBuffer(cmd[0]!, ...cmd.slice(1));
  const results = (await p.exec()) ?? [];
  return results.map(([err, value]) => (err ? replyError(err) : { result: value }));
}

/** Redis's own errors (WRONGTYPE, ERR …) go to the client; a lost connection is a 503. */
function replyError(e: unknown): { error: string } {
  if (e instanceof Error && e.name === 'ReplyError') return { error: e.message };
  throw e;
}

function unavailableMessage(e: unknown): string {
  return `ERR Redis unavailable: ${e instanceof Error ? e.message : String(e)}`;
}

/** Buffers → text (or base64 text), recursively; numbers and null pass through. */
function encodeReply(reply: Reply, b64: boolean): Reply {
  return 'error' in reply ? reply : { result: encodeValue(reply.result, b64) };
}

function encodeValue(v: unknown, b64: boolean): unknown {
  if (Buffer.isBuffer(v)) return v.toString(b64 ? 'base64' : 'utf8');
  if (typeof v === 'string') return b64 ? Buffer.from(v, 'utf8').toString('base64') : v;
  if (Array.isArray(v)) return v.map((x) => encodeValue(x, b64));
  return v ?? null;
}
