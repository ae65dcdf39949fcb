/**
 * Node's listener: @hono/node-server over node:http, with keep-alive tuned for load
 * balancers (keep-alive longer than typical LB idle timeouts).
 * @module
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Listen } from '../serve/listener.ts';

/** Listens with @hono/node-server. */
export const listenNode: Listen = (fetch, { port, host }) =>
  new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname: host }, (info: AddressInfo) => {
      resolve({
        port: info.port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          (server as Server).closeIdleConnections?.();
        }),
      });
    }) as Server;
    server.keepAliveTimeout = 65_000;
    server.once('error', reject);
  });
