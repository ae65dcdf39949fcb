/**
 * `omniserve redis-rest [--redis-url U] [--port P] [--host H] [--token T]`: runs the
 * Upstash-compatible REST gateway until SIGTERM or SIGINT. Prints one JSON line,
 * `{"url": …}`, once listening (plus `"token"` when it made one up), so scripts and tests
 * can wait for it.
 * @module
 */
import process from 'node:process';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { isOmniserveError, messageOf } from '../../src/errors.ts';
import { startRedisRestGateway } from './redis-rest.ts';

/** Where the command writes, and what may stop it besides signals (tests). */
export interface RedisRestIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
}

/** Local Upstash emulators (serverless-redis-http) listen on 8079; so do we by default. */
export const DEFAULT_REDIS_REST_PORT = 8079;

/** Runs the command with `argv` (after `redis-rest`). Resolves with the exit code once stopped. */
export async function redisRestCommand(argv: readonly string[], io: RedisRestIo = process): Promise<number> {
  const env = io.env ?? process.env;
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'redis-url': { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        token: { type: 'string' },
      },
    }));
  } catch (e) {
    io.stderr.write(`omniserve redis-rest: ${messageOf(e)}\n`);
    return 2;
  }
  const port = values.port === undefined ? DEFAULT_REDIS_REST_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    io.stderr.write(`omniserve redis-rest: --port must be an integer 0-65535, got ${values.port}\n`);
    return 2;
  }
  const given = values.token ?? env.UPSTASH_REDIS_REST_TOKEN;
  // No token: make one up and print it, rather than serve a database unauthenticated.
  const token = given || randomToken();
  const redisUrl = values['redis-url'] ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379';

  let gateway;
  try {
    gateway = await startRedisRestGateway({ redisUrl, port, host: values.host, token });
  } catch (e) {
    io.stderr.write(`omniserve redis-rest: ${messageOf(e)}\n`);
    return isOmniserveError(e) ? 2 : 1;
  }
  io.stdout.write(`${JSON.stringify(given ? { url: gateway.url } : { url: gateway.url, token })}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop, { once: true });
  });
  await gateway.close();
  return 0;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
