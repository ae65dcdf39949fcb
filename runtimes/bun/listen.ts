/**
 * Bun's listener: Bun.serve, with `reusePort` so several Bun processes share one port.
 * @module
 */
import type { Listen } from '../serve/listener.ts';

/** Listens with Bun.serve. */
export const listenBun: Listen = async (fetch, { port, host, reusePort }) => {
  const server = Bun.serve({ fetch, port, hostname: host, reusePort: reusePort ?? false });
  return { port: server.port, close: () => server.stop() };
};
