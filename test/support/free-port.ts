/**
 * Loopback port helpers shared by every test that starts a server.
 */
import { createConnection, createServer } from 'node:net';

/** Loopback address used by all test servers, so nothing is exposed. */
export const LOOPBACK = '127.0.0.1';

/**
 * Asks the kernel for a currently unused TCP port on `host`.
 *
 * The port is released before returning, so another process may grab it
 * before the caller binds it; callers that spawn servers should retry on
 * "address in use" rather than treat it as fatal.
 */
export function freePort(host: string = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`could not read the port bound on ${host}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

/**
 * Resolves `true` when something accepts TCP connections on `host:port`,
 * `false` on refusal or after `timeoutMs` without an answer.
 */
export function isPortOpen(
  port: number,
  host: string = LOOPBACK,
  timeoutMs = 1_000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Polls until `host:port` accepts connections, rejecting after `timeoutMs`.
 * For servers that offer no readiness signal of their own.
 */
export async function waitForPort(
  port: number,
  host: string = LOOPBACK,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isPortOpen(port, host, 500))) {
    if (Date.now() > deadline) {
      throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
