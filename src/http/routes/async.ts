/**
 * Async prediction routes: `POST /predict/async` and `POST /v1/models/{name}/predict/async`
 * store a job and answer `202 {request_id, status: "pending"}`; `GET /predict/{request_id}`
 * answers the job's status and, once final, its result or error.
 *
 * Everything that can be checked without the feature store is checked at submit (shape,
 * model and version, direct feature values): a request that can never score is a 422 now,
 * not a failed job later.
 * @module
 */
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { Errors } from '../../errors.ts';
import { refusalOf } from '../../webhooks/ssrf.ts';
import type { JobIntake, JobRecord, JobRequest } from '../../queue/types.ts';
import { checkFeatures } from '../../queue/validate.ts';
import { modelRequest, PredictBody } from './model-request.ts';
import type { AppEnv, AppOptions } from '../types.ts';

const CallbackUrl = v.pipe(
  v.string(),
  v.maxLength(2048),
  v.check((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'callback_url must be an absolute http(s) URL'),
);

/** The realtime request shape plus `callback_url`. */
const AsyncBody = v.object({ ...PredictBody.entries, callback_url: v.optional(CallbackUrl) });

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;

/** The status answer: what `GET /predict/{id}` returns. */
export function jobView(j: JobRecord) {
  return {
    request_id: j.request_id,
    status: j.status,
    model: j.model,
    ...(j.version !== undefined ? { version: j.version } : {}),
    created_at: j.created_at,
    updated_at: j.updated_at,
    attempts: j.attempts,
    ...(j.status === 'completed' ? { result: j.result } : {}),
    ...(j.status === 'failed' && j.error ? { error: j.error } : {}),
  };
}

/** Adds the async routes (when the server has a queue). */
export function asyncRoutes(app: Hono<AppEnv>, o: AppOptions & { readonly queue: JobIntake }): void {
  const { serving, queue } = o;
  const maxRecords = o.maxRecords ?? 10_000;
  const jobs = o.metrics?.serving.jobs;

  /** Refuses a callback that could never be delivered: no secret, or an SSRF refusal. */
  const checkCallback = async (url: string): Promise<void> => {
    if (!o.webhooks) {
      throw Errors.INVALID_REQUEST('callback_url: this server has no webhook secret (webhooks.secret or OMNISERVE_WEBHOOK_SECRET), and it never sends unsigned webhooks', { field: 'callback_url' });
    }
    try {
      await o.webhooks.check?.(url);
    } catch (e) {
      // A refusal is final; anything else (DNS down, a name that does not resolve yet)
      // may pass later, and delivery checks again and retries.
      if (refusalOf(e) !== undefined) throw e;
    }
  };

  const submit = async (c: Context<AppEnv>, name: string | undefined) => {
    const key = c.req.header('idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw Errors.INVALID_REQUEST('Idempotency-Key must be 1-256 visible ASCII characters');
    }
    // Throws MODEL_NOT_FOUND (404) for an unknown model or version.
    const { body, model } = await modelRequest(c, o, AsyncBody, name);
    let request: JobRequest;
    if (body.instances) {
      if (body.instances.length > maxRecords) {
        throw Errors.BATCH_TOO_LARGE(`${body.instances.length} instances is over the limit of ${maxRecords}`, { limit: maxRecords });
      }
      body.instances.forEach((r, i) => checkFeatures(model, r, i, true));
      request = { instances: body.instances };
    } else {
      if (body.user_id === undefined && body.item_id === undefined && !body.context && !body.features) {
        throw Errors.INVALID_REQUEST('nothing to score: send user_id/item_id, context, features or instances');
      }
      const direct = { ...body.context, ...body.features };
      checkFeatures(model, direct, 0, body.user_id === undefined && body.item_id === undefined);
      request = {
        ...(body.user_id !== undefined ? { user_id: body.user_id } : {}),
        ...(body.item_id !== undefined ? { item_id: body.item_id } : {}),
        ...(body.context ? { context: body.context } : {}),
        ...(body.features ? { features: body.features } : {}),
      };
    }
    if (body.callback_url !== undefined) await checkCallback(body.callback_url);
    const { request_id, duplicate } = await queue.submit(
      { model: model.name, ...(body.version !== undefined ? { version: body.version } : {}), request, ...(body.callback_url ? { callback_url: body.callback_url } : {}) },
      { idempotencyKey: key },
    );
    if (!duplicate) jobs?.submitted.inc({ model: model.name });
    return c.json({ request_id, status: 'pending' }, 202, {
      Location: `/predict/${request_id}`,
      ...(duplicate ? { 'Idempotent-Replayed': 'true' } : {}),
    });
  };

  /** The delivery status; null (left out) when unknown or unreadable: the job still answers. */
  const webhookStatus = async (jobId: string) => {
    try {
      return (await o.webhooks?.status?.(jobId)) ?? null;
    } catch {
      return null;
    }
  };

  app.post('/predict/async', (c) => submit(c, undefined));
  app.post('/v1/models/:name/predict/async', (c) => submit(c, c.req.param('name')));
  app.get('/predict/:request_id', async (c) => {
    const id = c.req.param('request_id');
    const job = id.length <= 128 ? await queue.get(id) : undefined;
    if (!job) throw Errors.NOT_FOUND(`no job ${JSON.stringify(id.slice(0, 128))} (unknown, or expired)`);
    c.set('model', job.model);
    const webhook = job.callback_url ? await webhookStatus(job.request_id) : null;
    return c.json({ ...jobView(job), ...(webhook ? { webhook } : {}) });
  });
}
