/**
 * The listener `omniserve serve` uses on the host this file runs on (@hono/node-server on
 * Node, Bun.serve on Bun, Deno.serve on Deno), for the benchmarks' own servers (hello.ts,
 * floor.ts, bench/body/server.ts): imported lazily, so Bun and Deno never load
 * @hono/node-server.
 * @module
 */
import process from 'node:process';
import type { Listen } from '../../runtimes/serve/listener.ts';

/** The host's name and its listener. */
export async function hostListener(): Promise<{ host: 'node' | 'bun' | 'deno'; listen: Listen }> {
  if ('Bun' in globalThis) return { host: 'bun', listen: (await import('../../runtimes/bun/listen.ts')).listenBun };
  if ('Deno' in globalThis) return { host: 'deno', listen: (await import('../../runtimes/deno/listen.ts')).listenDeno };
  return { host: 'node', listen: (await import('../../runtimes/node/listen.ts')).listenNode };
}

/**
 * Serves `fetch` on the host's listener, prints the `{"event":"listening","url":…}` line that
 * servers.ts waits for (the same as `omniserve serve`), and on SIGTERM or SIGINT closes the
 * listener, then `release` (connections, sessions), then exits.
 */
export async function serveBenchServer(fetch: (req: Request) => Response | Promise<Response>, o: { port: number; host: string },
  release?: () => Promise<void>): Promise<void> {
  const { host, listen } = await hostListener();
  const listening = await listen(fetch, { port: o.port, host: o.host });
  process.stdout.write(`${JSON.stringify({
    event: 'listening', url: `http://${o.host}:${listening.port}`, port: listening.port, host, pid: process.pid,
  })}\n`);
  const stop = async () => {
    await listening.close();
    await release?.();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}
