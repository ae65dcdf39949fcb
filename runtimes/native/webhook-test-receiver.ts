/**
 * Test support: a real node:http webhook receiver on 127.0.0.1 that records what it gets
 * and answers with whatever the test's handler says, on a port that can be chosen before
 * the receiver listens (so "down" means connection refused, not an error status).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { LOOPBACK, freePort } from '../../test/support/free-port.ts';

/** One request as the receiver saw it. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly path: string;
}

/** Answers request number `n` (0-based); return nothing to leave it hanging. */
export type Handler = (req: Received, n: number, res: ServerResponse) => number | void;

/** A receiver that is not listening yet. */
export interface Receiver {
  readonly port: number;
  readonly received: Received[];
  url(path?: string): string;
  up(): Promise<void>;
  down(): Promise<void>;
}

/** Reserves a free port; call `up()` to start answering on it. */
export async function createReceiver(handler: Handler): Promise<Receiver> {
  const port = await freePort();
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '' };
      received.push(r);
      const status = handler(r, received.length - 1, res);
      if (typeof status === 'number') res.writeHead(status, { 'content-type': 'text/plain' }).end(`status ${status}`);
    });
  });
  return {
    port,
    received,
    url: (path = '/hook') => `http://${LOOPBACK}:${port}${path}`,
    up: () => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, LOOPBACK, () => resolve());
    }),
    down: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
