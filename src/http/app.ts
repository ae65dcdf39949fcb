/**
 * The Hono app factory: one app for every host (Node, Bun, Deno, Workers). Hosts only
 * decide how to listen; everything a request meets is here.
 * @module
 */
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { Errors } from '../errors.ts';
import { errorResponse } from './errors.ts';
import { adminRoutes } from './routes/admin.ts';
import { asyncRoutes } from './routes/async.ts';
import { oipRoutes } from './routes/oip.ts';
import { opsRoutes } from './routes/ops.ts';
import { realtimeRoutes } from './routes/realtime.ts';
import type { AppEnv, AppOptions } from './types.ts';

const OPEN_PATHS = new Set(['/health', '/metrics', '/v2/health/live', '/v2/health/ready']);

/** A status code as a label value; the common ones made once. */
const STATUS_TEXT = new Map([200, 201, 202, 204, 400, 401, 404, 405, 413, 415, 422, 429, 500, 503, 504].map((s) => [s, String(s)]));
const statusText = (status: number): string => STATUS_TEXT.get(status) ?? String(status);

/** Methods routed for `path` (for 405 answers); middleware entries are skipped. */
function allowedMethods(app: Hono<AppEnv>, path: string): string[] {
  const out = new Set<string>();
  for (const r of app.routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue;
    const re = new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`);
    if (re.test(path)) out.add(r.method);
  }
  return [...out];
}

/** The files of the browser demo (`omniserve serve --demo`): the host reads them (runtimes/browser/host). */
export interface DemoFiles {
  /** The response for a path under `/demo/` (`''` is the page), or undefined for a 404. */
  get(path: string): Promise<Response | undefined>;
}

/** Builds the app. */
export function createApp(o: AppOptions & { readonly demo?: DemoFiles }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const m = o.metrics?.serving;

  app.onError((e, c) => errorResponse(c, e));
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length) {
      const res = errorResponse(c, Errors.METHOD_NOT_ALLOWED(`${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(', ')}`, { allowed }));
      res.headers.set('Allow', allowed.join(', '));
      return res;
    }
    return errorResponse(c, Errors.NOT_FOUND(`no route ${c.req.method} ${c.req.path}`));
  });

  if (m) {
    // A promise chain, not an async function with try/finally: one promise and microtask
    // less per request. next() settles once the handler's error (if any) became c.res
    // through onError (Hono's compose), so it rejects only with errors of onError itself.
    const done = (c: Context<AppEnv>, t0: number): void => {
      m.inFlight.dec();
      const route = c.req.routePath || 'unmatched';
      const model = c.get('model') ?? '';
      m.requestsTotal.inc({ model, version: c.get('modelVersion') ?? '', route, status: statusText(c.res.status) });
      m.requestLatency.observe({ model, route }, (performance.now() - t0) / 1000);
    };
    app.use((c, next) => {
      const t0 = performance.now();
      c.set('t0', t0);
      m.inFlight.inc();
      return next().then(() => done(c, t0), (e: unknown) => {
        done(c, t0);
        throw e;
      });
    });
  }
  if (o.corsOrigins?.length) {
    const origins = [...o.corsOrigins];
    app.use(cors({ origin: origins.includes('*') ? '*' : origins, allowHeaders: ['Content-Type', 'Authorization', 'Idempotency-Key'], maxAge: 600 }));
  }
  if (o.demo) {
    // Before the bearer-key check: a browser cannot send a key with a page load.
    const demo = o.demo;
    app.get('/demo', (c) => c.redirect('/demo/'));
    app.get('/demo/*', async (c) => (await demo.get(c.req.path.slice('/demo/'.length))) ?? errorResponse(c, Errors.NOT_FOUND(`no demo file ${c.req.path}`)));
  }
  if (o.apiKeys?.length) {
    const keys = new Set(o.apiKeys);
    app.use(async (c, next) => {
      if (c.req.method === 'OPTIONS' || OPEN_PATHS.has(c.req.path)) return next();
      const h = c.req.header('authorization') ?? '';
      const token = h.startsWith('Bearer ') ? h.slice(7).trim() : '';
      if (!keys.has(token)) throw Errors.UNAUTHORIZED('a valid bearer key is required (Authorization: Bearer <key>)');
      return next();
    });
  }
  realtimeRoutes(app, o);
  if (o.queue) asyncRoutes(app, { ...o, queue: o.queue });
  oipRoutes(app, o);
  opsRoutes(app, o);
  if (o.admin) adminRoutes(app, o);
  return app;
}
