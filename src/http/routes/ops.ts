/**
 * Operations routes: `/health`, `/metrics` (Prometheus text), `/openapi.json` and `/docs`.
 * @module
 */
import type { Hono } from 'hono';
import { CONTENT_TYPE } from '../../metrics/registry.ts';
import { openApiSpec, renderDocsPage } from '../openapi.ts';
import type { AppEnv, AppOptions } from '../types.ts';

/** Adds the operations routes. */
export function opsRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  const serving = o.serving;
  const started = Date.now();
  app.get('/health', async (c) => {
    const store = serving.options.features;
    const storeOk = store ? await store.ping().catch(() => false) : null;
    const ok = serving.ready && storeOk !== false;
    return c.json({
      status: !serving.ready ? 'draining' : ok ? 'healthy' : 'degraded',
      models: serving.engine.models.list().map((m) => {
        const d = serving.model(m.name);
        return {
          ...m, backend: d.backend.id,
          ...(d.metadata.warmup ? { warmup: d.metadata.warmup } : {}),
          ...(d.metadata.skippedBackends ? { skipped_backends: d.metadata.skippedBackends } : {}),
          ...(d.metadata.skippedOutputs ? { skipped_outputs: d.metadata.skippedOutputs } : {}),
          ...(d.metadata.runsIn ? { runs_in: d.metadata.runsIn } : {}),
        };
      }),
      feature_store: store ? { kind: store.kind, ok: storeOk } : null,
      cache: serving.options.cache?.kind ?? null,
      host: o.host?.name,
      uptime_s: Math.round((Date.now() - started) / 1000),
    }, ok ? 200 : 503);
  });
  app.get('/metrics', (c) => {
    if (!o.metrics) return c.text('', 404);
    return c.body(o.metrics.registry.render(), 200, { 'Content-Type': CONTENT_TYPE });
  });
  const spec = openApiSpec(o.version ?? '0.1.0', { admin: o.admin, async: o.queue !== undefined });
  app.get('/openapi.json', (c) => c.json(spec));
  app.get('/docs', (c) => c.html(renderDocsPage(spec)));
}
