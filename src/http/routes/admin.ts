/**
 * Model management over HTTP (enabled by `server.admin`; behind the bearer keys when set):
 * load or reload a version, make one the default, unload one. A reload swaps traffic to the
 * new session and releases the old one only after its queued and running work finished. A
 * model served from worker threads (`models[].workers`) gets its new versions in every worker
 * before they take traffic, and an unloaded version leaves the workers too.
 * @module
 */
import type { Hono } from 'hono';
import * as v from 'valibot';
import { BACKEND_REQUESTS, type BackendRequest } from '../../backends/registry.ts';
import { readJson, validate } from '../body.ts';
import type { AppEnv, AppOptions } from '../types.ts';

const Name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_", "-"'));
const LoadBody = v.strictObject({
  /** A path the server can read, or an http(s) URL. */
  source: v.pipe(v.string(), v.minLength(1)),
  name: v.optional(Name),
  version: v.optional(Name),
  default: v.optional(v.boolean()),
  config: v.optional(v.record(v.string(), v.unknown())),
  backend: v.optional(v.picklist(BACKEND_REQUESTS as [string, ...string[]])),
});

/** Adds the admin routes. */
export function adminRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  const models = o.serving.engine.models;
  const limit = o.maxBodyBytes ?? 1 << 20;
  app.post('/admin/models', async (c) => {
    const body = validate(LoadBody, await readJson(c, limit, o.sizedBodyFrom));
    const m = await models.load({ ...body, backend: body.backend as BackendRequest | undefined });
    c.set('model', m.name);
    c.set('modelVersion', m.version);
    return c.json({ name: m.name, version: m.version, backend: m.backend.id, default: models.get(m.name).version }, 201);
  });
  app.put('/admin/models/:name/default', async (c) => {
    const body = validate(v.strictObject({ version: Name }), await readJson(c, limit, o.sizedBodyFrom));
    models.setDefault(c.req.param('name'), body.version);
    return c.json({ name: c.req.param('name'), default: body.version });
  });
  app.delete('/admin/models/:name/versions/:version', async (c) => {
    await models.unload(c.req.param('name'), c.req.param('version'));
    return c.json({ name: c.req.param('name'), version: c.req.param('version'), unloaded: true });
  });
}
