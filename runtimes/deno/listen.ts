/**
 * Deno's listener: Deno.serve.
 * @module
 */
import type { Listen } from '../serve/listener.ts';

/** Listens with Deno.serve. */
export const listenDeno: Listen = (fetch, { port, host, reusePort }) =>
  new Promise((resolve) => {
    const server = Deno.serve({
      port, hostname: host, reusePort: reusePort ?? false,
      onListen: ({ port: p }) => resolve({ port: p, close: () => server.shutdown() }),
    }, fetch);
  });
