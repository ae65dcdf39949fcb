/**
 * The metrics endpoint of `omniserve stream`: a bare node:http listener answering
 * `GET /metrics` (Prometheus text from omniserve's own registry) and `GET /health`. The
 * stream has no HTTP API, so a whole app would be dead weight here.
 * @module
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTENT_TYPE, type MetricsRegistry } from '../../src/metrics/registry.ts';

/** A listening metrics endpoint. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `host:port` (0: a free port) and serves `registry`. */
export function startMetricsServer(registry: MetricsRegistry, port: number, host: string, health: () => boolean): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      const body = registry.render();
      res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
    } else if (path === '/health') {
      const ok = health();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'failing' }));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
    }
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
      });
    });
  });
}
